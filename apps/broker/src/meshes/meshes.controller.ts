import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Put, Req } from '@nestjs/common';
import { CreateMeshBody, ProtocolError, PubkeyHex, RenameMemberBody, SetMemberScopeBody, Uuid, authorizationCredentials } from '@claudemesh/core';
import type { FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { parseBody } from '../common/parse.js';
import { SignedRequestVerifier } from './signed-request.verifier.js';
import { PublicRoute } from '../http/public-attempts.js';
import { MeshesService } from './meshes.service.js';

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

@Controller('api/v1/meshes')
export class MeshesController {
  constructor(
    private readonly meshes: MeshesService,
    private readonly signed: SignedRequestVerifier,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {}

  /** Creating a mesh on this broker needs the operator's admin token (guesses count against the address). */
  @Post()
  @PublicRoute()
  create(@Req() req: FastifyRequest, @Body() body: unknown) {
    const token = authorizationCredentials(req.headers.authorization, 'Bearer') ?? '';
    if (!this.config.adminToken || !sameSecret(token, this.config.adminToken)) {
      throw new ProtocolError('E_UNAUTHORIZED', 'mesh creation needs the broker admin token (Authorization: Bearer …)');
    }
    return this.meshes.create(parseBody(CreateMeshBody, body));
  }

  @Get(':meshId/members')
  async members(@Req() req: FastifyRequest, @Param('meshId') meshId: string) {
    const id = parseBody(Uuid, meshId);
    const caller = await this.signed.verify(req, id);
    await this.meshes.requireMember(id, caller);
    return this.meshes.members(id);
  }

  /** A member renames itself (protocol §8.3); the signature says who "me" is. */
  @Patch(':meshId/members/me')
  async rename(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Body() body: unknown) {
    const id = parseBody(Uuid, meshId);
    const caller = await this.signed.verify(req, id);
    return this.meshes.renameMember(id, caller, parseBody(RenameMemberBody, body).display_name);
  }

  /** Sets or lifts a member's scope (protocol §8.3): its own, narrower; anyone's, for an owner or admin. */
  @Put(':meshId/members/:pubkey/scope')
  async scope(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Param('pubkey') pubkey: string, @Body() body: unknown) {
    const id = parseBody(Uuid, meshId);
    const caller = await this.signed.verify(req, id);
    return this.meshes.setScope(id, caller, parseBody(PubkeyHex, pubkey), parseBody(SetMemberScopeBody, body).scope);
  }

  @Post(':meshId/members/:pubkey/revoke')
  @HttpCode(200)
  async revoke(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Param('pubkey') pubkey: string) {
    const id = parseBody(Uuid, meshId);
    const caller = await this.signed.verify(req, id);
    return this.meshes.revokeMember(id, caller, parseBody(PubkeyHex, pubkey));
  }
}
