import { Module } from '@nestjs/common';
import { SignedRequestVerifier } from './signed-request.verifier.js';
import { MeshDirectory } from './mesh-directory.js';
import { MeshesController } from './meshes.controller.js';
import { MeshesService } from './meshes.service.js';

/** Meshes and members, and the verification of requests signed by a member key (used by every module with member routes). */
@Module({ controllers: [MeshesController], providers: [MeshDirectory, MeshesService, SignedRequestVerifier], exports: [MeshDirectory, MeshesService, SignedRequestVerifier] })
export class MeshesModule {}
