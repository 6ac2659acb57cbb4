import { Module } from '@nestjs/common';
import { MeshesModule } from '../meshes/meshes.module.js';
import { ApiKeysService } from './api-keys.service.js';

@Module({ imports: [MeshesModule], providers: [ApiKeysService], exports: [ApiKeysService] })
export class ApiKeysModule {}
