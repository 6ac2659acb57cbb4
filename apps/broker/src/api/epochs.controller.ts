import { Body, Controller, Get, Param, Post, Query, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AddEpochSealsBody, EpochAck, EpochParam, EpochSealsAdded, EpochsPage, EpochsQuery, ProtocolError, PublishEpochBody } from '@claudemesh/core';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { EpochsService } from '../epochs/epochs.service.js';
import { RateLimitedError } from '../http/rate-limited.error.js';
import { RateLimiter } from '../limits/rate-limiter.js';
import { TopicsService } from '../topics/topics.service.js';
import { BearerGuard, Caller, scopeOf } from './bearer.guard.js';
import { TopicParam } from './params.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

const DESCRIPTION =
  'The key epochs of a topic (docs/protocol.md §5.6): manifests in epoch order after `after_epoch`, the seals addressed to the ' +
  "key's member, and, when that member is listed in the current epoch, the members without a seal. Verify the chain and open seals " +
  'client-side; the broker is not trusted with either. A REST-only human has no keypair: it gets manifests but never a seal. ' +
  'Each epoch request counts as its frame in the member’s rate of costly frames (429 `E_RATE_LIMITED` with `retry_after_ms` beyond).';
const PUBLISH_DESCRIPTION =
  'Publishes the next key epoch of the topic, as the epoch_publish frame (docs/protocol.md §5.6), for a key whose member holds its ' +
  "keypair: the manifest (its scope `topic:<name>`, created and signed by the key's member) must follow the current epoch " +
  '(409 `E_EPOCH_CONFLICT` otherwise: build on the current epoch and publish again), with seals made by that member. ' +
  'Answered as epoch_ack once stored; members connected over the WebSocket get epoch_new.';
const SEAL_DESCRIPTION =
  "Adds seals of an existing epoch, as the epoch_seal frame: made by the key's member, a member of that epoch holding its key, " +
  'for members of it that lack theirs. A recipient’s first seal of an epoch stays; `stored` counts the seals stored by this request.';

/** Key epochs over REST, for API-key clients whose member holds a real keypair: read, publish, seal. */
@ApiTags('topics')
@Controller('api/v1/topics')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class EpochsController {
  constructor(
    private readonly epochs: EpochsService,
    private readonly topics: TopicsService,
    private readonly rates: RateLimiter,
  ) {}

  /**
   * Each epoch request counts as the frame it stands for (epoch_get, epoch_publish, epoch_seal: costly
   * frames, protocol §1.2) in its member's buckets, shared with the member's WebSocket sessions.
   */
  private admit(caller: ApiCaller, body: unknown): void {
    const wait = this.rates.admitMember(caller.member.id, { bytes: body === undefined ? 0 : Buffer.byteLength(JSON.stringify(body)), costly: true });
    if (wait > 0) throw new RateLimitedError(`${caller.member.displayName} is over its rate of epoch requests (CLAUDEMESH_WS_MEMBER_COSTLY_PER_S, shared with its WebSocket sessions); retry in ${wait} ms`, wait);
  }

  @Get(':name/epochs')
  @BearerRoute('read', { summary: 'A topic’s key epochs and the caller’s seals', description: DESCRIPTION, ok: EpochsPage, errors: [400, 404, 429] })
  list(@Caller() caller: ApiCaller, @TopicParam() name: string, @Query({ schema: EpochsQuery }) query: z.output<typeof EpochsQuery>): Promise<z.output<typeof EpochsPage>> {
    this.admit(caller, undefined);
    return this.epochs.get(scopeOf(caller), `topic:${name}`, query.after_epoch);
  }

  @Post(':name/epochs')
  @BearerRoute('send', { summary: 'Publish a topic’s next key epoch', description: PUBLISH_DESCRIPTION, ok: EpochAck, status: 201, errors: [400, 404, 409, 429] })
  async publish(@Caller() caller: ApiCaller, @TopicParam() name: string, @Body({ schema: PublishEpochBody }) body: z.output<typeof PublishEpochBody>): Promise<z.output<typeof EpochAck>> {
    this.admit(caller, body);
    // The topic first, as every topic route: unknown 404, private or outside the key's topics 403.
    await this.topics.resolve(scopeOf(caller), name);
    const scope = `topic:${name}`;
    if (body.manifest.manifest.scope !== scope) throw new ProtocolError('E_EPOCH_INVALID', `the manifest is for ${body.manifest.manifest.scope}, not ${scope}: publish it under its own topic`);
    return this.epochs.publish(scopeOf(caller), body);
  }

  @Post(':name/epochs/:epoch/seals')
  @BearerRoute('send', { summary: 'Add seals of a topic’s key epoch', description: SEAL_DESCRIPTION, ok: EpochSealsAdded, errors: [400, 404, 429] })
  async seal(
    @Caller() caller: ApiCaller,
    @TopicParam() name: string,
    @Param('epoch', { schema: EpochParam }) epoch: number,
    @Body({ schema: AddEpochSealsBody }) body: z.output<typeof AddEpochSealsBody>,
  ): Promise<z.output<typeof EpochSealsAdded>> {
    this.admit(caller, body);
    const scope = `topic:${name}`;
    const stored = await this.epochs.seal(scopeOf(caller), { scope, epoch, seals: body.seals });
    return { scope, epoch, stored };
  }
}
