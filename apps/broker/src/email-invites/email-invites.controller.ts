import { Body, Controller, Get, Header, HttpCode, Param, Post, Req } from '@nestjs/common';
import { EmailInviteBody, EmailInviteClaimBody, EmailInviteResolveBody, InviteId, KeyHandoffBody, PubkeyHex, Uuid } from '@claudemesh/core';
import type { FastifyRequest } from 'fastify';
import { parseBody } from '../common/parse.js';
import { SignedRequestVerifier } from '../meshes/signed-request.verifier.js';
import { PublicRoute } from '../http/public-attempts.js';
import { EmailInvitesService } from './email-invites.service.js';
import { KeyHandoffService } from './key-handoff.service.js';
import { pageCsp } from '../http/security-headers.js';
import { joinPage } from '../invites/join-page.js';

/** Email invites and key handoff (docs/protocol.md §9c). Sending, listing and handing over are signed; resolve and claim carry the lookup. */
@Controller('api/v1')
export class EmailInvitesController {
  constructor(
    private readonly invites: EmailInvitesService,
    private readonly handoffs: KeyHandoffService,
    private readonly signed: SignedRequestVerifier,
  ) {}

  @Post('meshes/:meshId/invites/email')
  async send(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Body() body: unknown) {
    const id = parseBody(Uuid, meshId);
    const caller = await this.signed.verify(req, id);
    return this.invites.send(id, caller, parseBody(EmailInviteBody, body));
  }

  @Get('meshes/:meshId/invites/email')
  async list(@Req() req: FastifyRequest, @Param('meshId') meshId: string) {
    const id = parseBody(Uuid, meshId);
    return this.invites.list(id, await this.signed.verify(req, id));
  }

  @Post('meshes/:meshId/invites/email/:inviteId/revoke')
  @HttpCode(200)
  async revoke(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Param('inviteId') inviteId: string) {
    const id = parseBody(Uuid, meshId);
    return this.invites.revoke(id, await this.signed.verify(req, id), parseBody(InviteId, inviteId));
  }

  @Post('invites/email/resolve')
  @HttpCode(200)
  @PublicRoute()
  resolve(@Body() body: unknown) {
    return this.invites.resolve(parseBody(EmailInviteResolveBody, body).lookup);
  }

  @Post('invites/email/claim')
  @HttpCode(200)
  @PublicRoute()
  claim(@Body() body: unknown) {
    return this.invites.claim(parseBody(EmailInviteClaimBody, body));
  }

  @Get('meshes/:meshId/key-requests')
  async keyRequests(@Req() req: FastifyRequest, @Param('meshId') meshId: string) {
    const id = parseBody(Uuid, meshId);
    return this.handoffs.pending(id, await this.signed.verify(req, id));
  }

  @Post('meshes/:meshId/key-requests/:memberPubkey')
  @HttpCode(200)
  async handOver(@Req() req: FastifyRequest, @Param('meshId') meshId: string, @Param('memberPubkey') memberPubkey: string, @Body() body: unknown) {
    const id = parseBody(Uuid, meshId);
    const caller = await this.signed.verify(req, id);
    return this.handoffs.store(id, caller, parseBody(PubkeyHex, memberPubkey), parseBody(KeyHandoffBody, body));
  }

  @Get('meshes/:meshId/key-handoff')
  async keyHandoff(@Req() req: FastifyRequest, @Param('meshId') meshId: string) {
    const id = parseBody(Uuid, meshId);
    return this.handoffs.mine(id, await this.signed.verify(req, id));
  }
}

/** An email-invite link opened in a browser: it only says which command to run (the code is not looked up or echoed). */
const PAGE = joinPage({
  intro: `Run this in a terminal, with the claudemesh CLI installed:`,
  paragraphs: [
    `The invite admits you; the admin who invited you then hands you the mesh key, sealed to a key only your machine holds. The command waits for it.`,
  ],
  script: `document.getElementById('cmd').textContent = "claudemesh join '" + location.href.replace(/'/g, '') + "' --name <your-name>";`,
  noindex: true,
});

@Controller()
export class EmailJoinPageController {
  @Get('e/:code')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', pageCsp(PAGE))
  @Header('cache-control', 'no-store')
  @Header('referrer-policy', 'no-referrer')
  @Header('x-robots-tag', 'noindex')
  page(): string {
    return PAGE;
  }
}
