import { Body, Controller, Get, Post, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { CreateWebSignInBody, WebPushInfo, WebSignInCreated } from '@claudemesh/core';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { PushService } from '../push/push.service.js';
import { WebSignInsService } from '../web/web-signins.service.js';
import { BearerGuard, Caller } from './bearer.guard.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

/** One-time web sign-in links (docs/protocol.md §8.5): a key deposits its own sealed copy. And the Web Push key (§8.6). */
@ApiTags('web')
@Controller('api/v1/web')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class WebSignInsController {
  constructor(
    private readonly signins: WebSignInsService,
    private readonly push: PushService,
  ) {}

  @Get('push')
  @BearerRoute('read', {
    summary: 'The broker’s VAPID public key for Web Push subscriptions, and whether push is on',
    description: 'Give `vapid_public_key` to `pushManager.subscribe({ applicationServerKey })`, then register the subscription with `POST /api/v1/me/push` (docs/protocol.md §8.6).',
    ok: WebPushInfo,
  })
  pushInfo(): z.output<typeof WebPushInfo> {
    return { vapid_public_key: this.push.vapid.publicKey, enabled: this.push.enabled };
  }

  @Post('signins')
  @BearerRoute('read', {
    summary: 'Deposit this key, sealed under a one-time code, for a web sign-in link',
    description:
      'The code travels only in the link’s fragment: the broker files the sealed key under the code’s lookup, hands it out once (`POST /api/v1/web/session`, no credentials) and cannot open it. ' +
      'At most 5 open links per key (429), each for at most 15 minutes and never past the key’s own expiry.',
    ok: WebSignInCreated,
    status: 201,
    errors: [400, 409, 429],
  })
  create(@Caller() caller: ApiCaller, @Body({ schema: CreateWebSignInBody }) body: z.output<typeof CreateWebSignInBody>): Promise<z.output<typeof WebSignInCreated>> {
    return this.signins.create(caller, body);
  }
}
