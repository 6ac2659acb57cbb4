import { Module } from '@nestjs/common';
import { MeshesModule } from '../meshes/meshes.module.js';
import { InvitesController } from './invites.controller.js';
import { JoinPageController } from './join-page.controller.js';
import { InvitesService } from './invites.service.js';
import { ShortInvitesController } from './short-invites.controller.js';
import { ShortInvitesService } from './short-invites.service.js';

@Module({
  imports: [MeshesModule],
  controllers: [InvitesController, ShortInvitesController, JoinPageController],
  providers: [InvitesService, ShortInvitesService],
  exports: [InvitesService, ShortInvitesService],
})
export class InvitesModule {}
