import { Body, Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { JoinBody, SignedInviteBody, Uuid } from '@claudemesh/core';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseBody } from '../common/parse.js';
import { SignedRequestVerifier } from '../meshes/signed-request.verifier.js';
import { PublicRoute } from '../http/public-attempts.js';
import { InvitesService } from './invites.service.js';

const InviteId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);

@Controller('api/v1')
export class InvitesController {
  constructor(
    private readonly invites: InvitesService,
    private readonly signed: SignedRequestVerifier,
  ) {}

  @Post('meshes/:meshId/invites')
  async register(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Body() body: unknown) {
    const id = parseBody(Uuid, meshId);
    const caller = await this.signed.verify(req, id);
    return this.invites.register(id, caller, parseBody(SignedInviteBody, body));
  }

  @Get('meshes/:meshId/invites')
  async list(@Req() req: FastifyRequest, @Param('meshId') meshId: string) {
    const id = parseBody(Uuid, meshId);
    return this.invites.list(id, await this.signed.verify(req, id));
  }

  @Post('meshes/:meshId/invites/:inviteId/revoke')
  @HttpCode(200)
  async revoke(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Param('inviteId') inviteId: string) {
    const id = parseBody(Uuid, meshId);
    return this.invites.revoke(id, await this.signed.verify(req, id), parseBody(InviteId, inviteId));
  }

  /** Enrollment: the invite plus a signature proving possession of the new member key. */
  @Post('join')
  @HttpCode(200)
  @PublicRoute()
  join(@Body() body: unknown) {
    return this.invites.join(parseBody(JoinBody, body));
  }
}
