import { Global, Module } from '@nestjs/common';
import { SignedRequestVerifier } from './signed-request.js';

/** Signed-request verification for every controller with member routes (meshes, invites, email invites, API keys). */
@Global()
@Module({ providers: [SignedRequestVerifier], exports: [SignedRequestVerifier] })
export class SignedRequestModule {}
