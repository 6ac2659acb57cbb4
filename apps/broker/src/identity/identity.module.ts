import { Module } from '@nestjs/common';
import { MeshesModule } from '../meshes/meshes.module.js';
import { HelloVerifier } from './hello.verifier.js';

@Module({ imports: [MeshesModule], providers: [HelloVerifier], exports: [HelloVerifier] })
export class IdentityModule {}
