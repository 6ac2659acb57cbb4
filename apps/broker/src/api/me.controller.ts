import { Body, Controller, Delete, Get, Post, Query, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiKeyInfo, ClaimIdentityBody, DeletePushBody, MeInfo, PushRemoved, PushSubscriptionBody, PushSubscriptionCreated, NotificationsQuery, Notification, TopicInfo, TopicMessage } from '@claudemesh/core';
import type { z } from 'zod';
import { ApiKeysService, type ApiCaller } from '../apikeys/api-keys.service.js';
import { MeshesService, memberInfo } from '../meshes/meshes.service.js';
import { PushService } from '../push/push.service.js';
import { NotificationsService } from '../topics/notifications.service.js';
import { TopicsService } from '../topics/topics.service.js';
import { ActivityQuery } from './api.schemas.js';
import { BearerGuard, Caller, scopeOf } from './bearer.guard.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

/** The key's own view: who it acts as, its topics, its notifications, its activity feed. */
@ApiTags('me')
@Controller('api/v1/me')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class MeController {
  constructor(
    private readonly topics: TopicsService,
    private readonly notifications: NotificationsService,
    private readonly keys: ApiKeysService,
    private readonly meshes: MeshesService,
    private readonly push: PushService,
  ) {}

  @Get()
  @BearerRoute('read', { summary: 'The mesh, member and key this API key acts as', ok: MeInfo })
  me(@Caller() caller: ApiCaller): z.output<typeof MeInfo> {
    return {
      mesh_id: caller.state.mesh.id,
      mesh_name: caller.state.mesh.name,
      member: { ...memberInfo(caller.member), rest_only: caller.member.restOnly },
      key: { id: caller.keyId, capabilities: [...caller.capabilities].sort(), topics: caller.topics ? [...caller.topics].sort() : null, expires_at: caller.expiresAt },
    };
  }

  /**
   * The key ends itself, and every key issued with it: what the web app's "Sign out" does. Any
   * capability suffices — a key that may read may stop being able to.
   */
  @Delete('apikey')
  @BearerRoute('read', { summary: 'Revoke this API key (and every key issued with it): sign-out', ok: ApiKeyInfo })
  revokeSelf(@Caller() caller: ApiCaller): Promise<z.output<typeof ApiKeyInfo>> {
    return this.keys.revoke(caller.state, caller.member, caller.keyId, caller);
  }

  /**
   * A REST-only human takes the keypair its client made (the web app, in the browser) in place of
   * its placeholder key, once (protocol §6.5). Answers as GET /me, with the new key.
   */
  @Post('identity')
  @BearerRoute('send', {
    summary: 'Claim a keypair for a REST-only human (once): its own key replaces the placeholder',
    description: '`sig` is by the new key over the identity-claim string (docs/protocol.md §4.7, §6.5). Afterwards the member is sealed to and listed in key epochs like any member.',
    ok: MeInfo,
    errors: [400, 409],
  })
  async claim(@Caller() caller: ApiCaller, @Body({ schema: ClaimIdentityBody }) body: z.output<typeof ClaimIdentityBody>): Promise<z.output<typeof MeInfo>> {
    await this.meshes.claimIdentity(caller.state, caller.member, body);
    return this.me(caller);
  }

  /** Web Push (docs/protocol.md §8.6): this key's browser subscription, for mentions and replies. */
  @Post('push')
  @BearerRoute('read', {
    summary: 'Register a Web Push subscription for this key’s mentions and replies',
    description:
      'The browser’s `PushSubscription` JSON (`endpoint`, `keys.p256dh`, `keys.auth`) and optionally `kinds`. The same endpoint again updates it in place. ' +
      'At most 5 subscriptions per key (429). Pushes carry no message text: kind, mesh, topic, actor, message id and a URL. A subscription lives as long as its key.',
    ok: PushSubscriptionCreated,
    status: 201,
    errors: [400, 404, 429],
  })
  subscribePush(@Caller() caller: ApiCaller, @Body({ schema: PushSubscriptionBody }) body: z.output<typeof PushSubscriptionBody>): Promise<z.output<typeof PushSubscriptionCreated>> {
    return this.push.subscribe(caller, body);
  }

  @Delete('push')
  @BearerRoute('read', { summary: 'Delete this key’s Web Push subscription with this endpoint, or (no body) all of them', ok: PushRemoved, errors: [400] })
  unsubscribePush(@Caller() caller: ApiCaller, @Body({ schema: DeletePushBody }) body: z.output<typeof DeletePushBody>): Promise<z.output<typeof PushRemoved>> {
    return this.push.unsubscribe(caller, body);
  }

  @Get('topics')
  @BearerRoute('read', { summary: 'The topics the member has joined', ok: TopicInfo.array() })
  async joined(@Caller() caller: ApiCaller): Promise<Array<z.output<typeof TopicInfo>>> {
    return (await this.topics.list(scopeOf(caller))).filter((t) => t.joined);
  }

  @Get('notifications')
  @BearerRoute('read', { summary: 'Mentions and replies, newest first (as GET /notifications)', ok: Notification.array(), errors: [400] })
  notes(@Caller() caller: ApiCaller, @Query({ schema: NotificationsQuery }) query: z.output<typeof NotificationsQuery>): Promise<Array<z.output<typeof Notification>>> {
    return this.notifications.list(scopeOf(caller), query);
  }

  @Get('activity')
  @BearerRoute('read', { summary: 'The newest messages across the joined topics, newest first', ok: TopicMessage.array(), errors: [400] })
  activity(@Caller() caller: ApiCaller, @Query({ schema: ActivityQuery }) query: z.output<typeof ActivityQuery>): Promise<Array<z.output<typeof TopicMessage>>> {
    return this.topics.activity(scopeOf(caller), query.limit);
  }
}
