import { Controller, Get, Inject, Logger, Query, Req, Res, UsePipes, type OnModuleDestroy } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ProtocolError, TopicMessageId } from '@claudemesh/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiKeysService, type ApiCaller } from '../apikeys/api-keys.service.js';
import { BUS, type Bus } from '../bus/bus.js';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import type { SseLimits } from '../config/rest-limits.config.js';
import { RAW_SECURITY_HEADERS } from '../http/security-headers.js';
import { REQUEST_ID_HEADER } from '../logging/request-log.js';
import { BrokerMetrics } from '../metrics/broker-metrics.js';
import { TopicsService, type TopicScope } from '../topics/topics.service.js';
import { ErrorBody } from './api.schemas.js';
import { TopicParam } from './params.js';
import { BEARER_SCHEME } from './route.decorators.js';
import { TopicFeeds } from './topic-feed.js';
import { StreamSlots } from './stream-slots.js';
import { TopicStream } from './topic-stream.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

/** `?last_event_id=`: where a browser's first connect resumes (EventSource sets no header then). */
export const StreamQuery = z.strictObject({ last_event_id: TopicMessageId.optional() });

const DESCRIPTION = [
  'Server-sent events (`text/event-stream`): each message is `id: <id>`, `event: message`, `data: <TopicMessage JSON>`,',
  'pushed after its commit; a `: heartbeat` comment every 15 s. `Last-Event-ID` (or `?last_event_id=`) replays the history after',
  'that id, then continues live with nothing missed or repeated. Failures before the stream starts are the usual JSON errors;',
  'a stream that must end (key revoked or expired, member revoked, client too slow) sends `event: error` with `data: {code, message}`.',
  'One key may hold a few open streams at once, and one member a few more over all its keys (429 `E_RATE_LIMITED` beyond).',
].join(' ');

/** `GET /api/v1/topics/:name/stream` (docs/topics.md §SSE). */
@ApiTags('messages')
@Controller('api/v1/topics')
@UsePipes(WireSchemaPipe)
export class TopicStreamController implements OnModuleDestroy {
  private readonly logger = new Logger('TopicStream');
  private readonly limits: SseLimits;
  private readonly feeds: TopicFeeds;
  private readonly streams = new Set<TopicStream>();
  private readonly slots: StreamSlots;

  constructor(
    private readonly keys: ApiKeysService,
    private readonly topics: TopicsService,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(BROKER_CONFIG) config: BrokerConfig,
    private readonly metrics: BrokerMetrics,
  ) {
    this.limits = config.rest.sse;
    this.slots = new StreamSlots(this.limits);
    this.feeds = new TopicFeeds(bus, topics);
    metrics.source('sse_streams', () => this.streams.size);
  }

  /** Open streams and the topics they follow on this node (for tests and metrics). */
  get open(): { streams: number; feeds: number } {
    return { streams: this.streams.size, feeds: this.feeds.size };
  }

  @Get(':name/stream')
  @ApiOperation({ summary: 'Stream a topic’s messages (SSE)', description: `Needs an API key with the \`read\` capability. ${DESCRIPTION}` })
  @ApiBearerAuth(BEARER_SCHEME)
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'resume after this topic message id' })
  @ApiResponse({ status: 200, description: 'the event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } })
  @ApiResponse({ status: 400, description: 'E_SCHEMA: a bad topic name, Last-Event-ID or query', standardSchema: ErrorBody })
  @ApiResponse({ status: 401, description: 'E_UNAUTHORIZED: no key, or a malformed, unknown, revoked or expired one', standardSchema: ErrorBody })
  @ApiResponse({ status: 403, description: 'E_FORBIDDEN: no read capability, another topic’s key, a private topic; E_REVOKED', standardSchema: ErrorBody })
  @ApiResponse({ status: 404, description: 'E_NOT_FOUND: no such topic', standardSchema: ErrorBody })
  @ApiResponse({ status: 429, description: 'E_RATE_LIMITED: the key, or its member, already holds its maximum of open streams', standardSchema: ErrorBody })
  async stream(
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
    @TopicParam() name: string,
    @Query({ schema: StreamQuery }) query: z.output<typeof StreamQuery>,
  ): Promise<void> {
    // Everything that can fail does so before the first byte, as a JSON error with its status.
    const header = req.headers['last-event-id'];
    const resumeFrom = typeof header === 'string' && header !== '' ? header : query.last_event_id;
    if (resumeFrom !== undefined && !TopicMessageId.safeParse(resumeFrom).success) throw new ProtocolError('E_SCHEMA', 'Last-Event-ID: expected a decimal topic message id');
    const caller = await this.keys.authenticate(req.headers.authorization);
    if (!caller.capabilities.has('read')) {
      throw new ProtocolError('E_FORBIDDEN', `this API key lacks the read capability, needed for reading (GET routes and streams); it has ${[...caller.capabilities].join(', ')}`);
    }
    // Reserved before anything slow, so concurrent opens cannot all pass the check; freed when the stream ends.
    const release = this.slots.reserve(caller.keyId, caller.member.id);
    try {
      await this.begin(req, reply, name, caller, resumeFrom, release);
    } catch (error) {
      release();
      throw error;
    }
  }

  private async begin(req: FastifyRequest, reply: FastifyReply, name: string, caller: ApiCaller, resumeFrom: string | undefined, release: () => void): Promise<void> {
    const authorization = req.headers.authorization;
    const scope: TopicScope = { state: caller.state, member: caller.member, topics: caller.topics };
    const topic = await this.topics.resolve(scope, name);
    const feed = this.feeds.open(topic.id, name, scope);
    try {
      await feed.ready;
    } catch (error) {
      feed.release(null);
      throw error;
    }

    reply.hijack();
    // A stream is one long response: the socket's idle timeout does not apply (heartbeats and the
    // slow-consumer cut-off bound it instead).
    req.raw.socket.setTimeout(0);
    reply.raw.writeHead(200, {
      ...RAW_SECURITY_HEADERS,
      [REQUEST_ID_HEADER]: req.id,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    const stream = new TopicStream(
      reply.raw,
      {
        scope,
        name,
        topicId: topic.id,
        private: topic.visibility === 'private',
        keyId: caller.keyId,
        expiresAt: caller.expiresAt,
        recheck: async () => {
          await this.keys.authenticate(authorization);
          if (topic.visibility === 'private') await this.topics.resolve(scope, name);
        },
        onError: (code) => this.metrics.error(code, scope.state.mesh.id),
      },
      feed,
      this.topics,
      this.bus,
      this.limits,
      (s) => {
        this.streams.delete(s);
        release();
      },
    );
    this.streams.add(stream);
    stream.start(resumeFrom === undefined ? null : BigInt(resumeFrom));
  }

  /** Ends every stream before the HTTP server closes (it would otherwise wait for them). */
  onModuleDestroy(): void {
    if (this.streams.size > 0) this.logger.log(`ending ${this.streams.size} SSE streams`);
    for (const s of [...this.streams]) s.fail('E_UNAVAILABLE', 'the broker is shutting down; reconnect with Last-Event-ID');
    this.feeds.closeAll();
  }
}
