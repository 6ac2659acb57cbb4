import { createParamDecorator, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { ProtocolError, Uuid } from '@claudemesh/core';
import type { FastifyRequest } from 'fastify';
import { SignedRequestVerifier } from '../meshes/signed-request.verifier.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';
import { MeshesService } from '../meshes/meshes.service.js';

export interface SignedCaller {
  state: MeshState;
  member: MemberRecord;
}

const callers = new WeakMap<object, SignedCaller>();

/** The mesh of a request's signed caller, once SignedMemberGuard verified it (for metrics). */
export const signedMeshOf = (req: object): string | undefined => callers.get(req)?.state.mesh.id;

/**
 * Member routes under `/api/v1/meshes/:meshId/…` signed with the member key (docs/protocol.md §4.5):
 * the signature and membership are checked before the body is looked at, as in the other signed routes.
 */
@Injectable()
export class SignedMemberGuard implements CanActivate {
  constructor(
    private readonly meshes: MeshesService,
    private readonly signed: SignedRequestVerifier,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<FastifyRequest<{ Params: { meshId?: string } }>>();
    const meshId = Uuid.safeParse(req.params.meshId);
    if (!meshId.success) throw new ProtocolError('E_SCHEMA', `meshId: ${meshId.error.issues[0]?.message ?? 'expected a mesh id'}`);
    callers.set(req, await this.meshes.requireMember(meshId.data, await this.signed.verify(req, meshId.data)));
    return true;
  }
}

/** The verified member of a signed route (after SignedMemberGuard). */
export const SignedMember = createParamDecorator((_data: unknown, ctx: ExecutionContext): SignedCaller => {
  const caller = callers.get(ctx.switchToHttp().getRequest<FastifyRequest>());
  if (!caller) throw new ProtocolError('E_INTERNAL', 'signed route without SignedMemberGuard');
  return caller;
});
