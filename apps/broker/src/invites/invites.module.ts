import { Module } from '@nestjs/common';
import { MeshesModule } from '../meshes/meshes.module.js';
import { InvitesController } from './invites.controller.js';
import { JoinPageController } from './join-page.controller.js';
import { InvitesService } from './invites.service.js';

@Module({ imports: [MeshesModule], controllers: [InvitesController, JoinPageController], providers: [InvitesService], exports: [InvitesService] })
export class InvitesModule {}
