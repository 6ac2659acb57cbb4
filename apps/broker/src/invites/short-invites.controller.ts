import { Body, Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import { InviteId, ShortInviteBody, ShortInviteClaimBody, ShortInviteResolveBody, Uuid } from '@claudemesh/core';
import type { FastifyRequest } from 'fastify';
import { parseBody } from '../common/parse.js';
import { SignedRequestVerifier } from '../meshes/signed-request.verifier.js';
import { PublicRoute } from '../http/public-attempts.js';
import { ShortInvitesService } from './short-invites.service.js';

/** Invites v2 routes (docs/protocol.md §9b): issuance and revocation are signed; resolve and claim carry no credentials but the lookup. */
@Controller('api/v1')
export class ShortInvitesController {
  constructor(
    private readonly invites: ShortInvitesService,
    private readonly signed: SignedRequestVerifier,
  ) {}

  @Post('meshes/:meshId/invites/v2')
  async register(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Body() body: unknown) {
    const id = parseBody(Uuid, meshId);
    const caller = await this.signed.verify(req, id);
    return this.invites.register(id, caller, parseBody(ShortInviteBody, body));
  }

  @Post('meshes/:meshId/invites/v2/:inviteId/revoke')
  @HttpCode(200)
  async revoke(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Param('inviteId') inviteId: string) {
    const id = parseBody(Uuid, meshId);
    return this.invites.revoke(id, await this.signed.verify(req, id), parseBody(InviteId, inviteId));
  }

  @Post('invites/v2/resolve')
  @HttpCode(200)
  @PublicRoute()
  resolve(@Body() body: unknown) {
    return this.invites.resolve(parseBody(ShortInviteResolveBody, body).lookup);
  }

  @Post('invites/v2/claim')
  @HttpCode(200)
  @PublicRoute()
  claim(@Body() body: unknown) {
    return this.invites.claim(parseBody(ShortInviteClaimBody, body));
  }
}
