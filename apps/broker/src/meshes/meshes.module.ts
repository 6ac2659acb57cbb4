import { Module } from '@nestjs/common';
import { MeshDirectory } from './mesh-directory.js';
import { MeshesController } from './meshes.controller.js';
import { MeshesService } from './meshes.service.js';

@Module({ controllers: [MeshesController], providers: [MeshDirectory, MeshesService], exports: [MeshDirectory, MeshesService] })
export class MeshesModule {}
