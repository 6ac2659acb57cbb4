import { Logger } from '@nestjs/common';
import { ProtocolError, TOPIC_LIMITS, type ErrorCode } from '@claudemesh/core';
import type { ServerResponse } from 'node:http';
import { apiKeyChannel, memberTopic, type Bus } from '../bus/bus.js';
import type { TopicScope, TopicsService } from '../topics/topics.service.js';
import { sseFrame, type FeedEvent, type FeedSubscriber, type TopicFeed } from './topic-feed.js';

export interface StreamLimits {
  /** A `: heartbeat` comment this often. */
  heartbeatMs: number;
  /** The key (and a private topic's membership) is re-read this often: the bound on revocation. */
  recheckMs: number;
  /** Bytes queued for the socket (or held during a replay) beyond which the client is cut off. */
  maxBufferBytes: number;
}

export interface StreamAccess {
  scope: TopicScope;
  name: string;
  topicId: string;
  /** A private topic: leaving it ends the stream. */
  private: boolean;
  /** The API key the stream was opened with: revoking it ends the stream. */
  keyId: string;
  expiresAt: number | null;
  /** Throws the ProtocolError that ends the stream when the key or the topic is no longer readable. */
  recheck(): Promise<void>;
  /** Told the code of the error event that ends the stream (metrics). */
  onError?(code: ErrorCode): void;
}

/** A cut-off client still gets its error event if it reads within this long; then the socket goes. */
const CLOSE_GRACE_MS = 5_000;
/** Replayed ids remembered to recognise a late event the replay already wrote. */
const REPLAYED_MEMORY = 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One SSE connection on `GET /api/v1/topics/:name/stream`: replays the history after the client's
 * Last-Event-ID, then writes what the topic's feed emits. It never writes an id twice or skips one:
 * it attaches to the feed at position P (everything above P comes from the feed, buffered while the
 * replay runs), replays the history in (last id, P] and then flushes the buffer above what it wrote.
 */
export class TopicStream implements FeedSubscriber {
  private readonly logger = new Logger('TopicStream');
  private state: 'replaying' | 'live' | 'ended' = 'replaying';
  /** The highest id written (with an `id:` line). */
  private sent = 0n;
  private buffered: Array<{ events: readonly FeedEvent[]; blob: string }> = [];
  private bufferedBytes = 0;
  private readonly replayed = new Set<bigint>();
  private readonly replayedOrder: bigint[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly unsubscribe: Array<() => void>;
  private rechecking = false;

  constructor(
    private readonly raw: ServerResponse,
    private readonly access: StreamAccess,
    private readonly feed: TopicFeed,
    private readonly topics: TopicsService,
    bus: Bus,
    private readonly limits: StreamLimits,
    private readonly onEnd: (stream: TopicStream) => void,
  ) {
    // Revocations arrive as bus events, so a stream ends when they commit; the periodic re-read
    // (`recheckMs`) only backs them up (a change made straight in the database, a lost event).
    this.unsubscribe = [
      bus.subscribe(memberTopic(access.scope.member.id), (event) => {
        if (event.kind === 'revoked') this.fail('E_REVOKED', 'the key’s member has been revoked');
        else if (event.kind === 'topic_left' && access.private && event.topicId === access.topicId) this.fail('E_FORBIDDEN', `you left #${access.name}, a private topic`);
      }),
      bus.subscribe(apiKeyChannel(access.keyId), (event) => {
        if (event.kind === 'apikey_revoked') this.fail('E_UNAUTHORIZED', 'this API key has been revoked');
      }),
    ];
    raw.on('close', () => this.end());
  }

  get scope(): TopicScope {
    return this.access.scope;
  }

  /** Call in the same turn as reading `feed.position`: attaches, then replays (last id, position]. */
  start(lastEventId: bigint | null): void {
    const position = this.feed.position;
    this.feed.attach(this);
    this.raw.write(`: #${this.access.name}\n\n`);
    this.timers.push(setInterval(() => this.write(': heartbeat\n\n'), this.limits.heartbeatMs));
    // Spread the re-reads of many streams opened at once over the interval.
    const recheck = setTimeout(() => this.timers.push(setInterval(() => void this.recheck(), this.limits.recheckMs)), Math.random() * this.limits.recheckMs);
    this.timers.push(recheck);
    if (this.access.expiresAt !== null) {
      const left = this.access.expiresAt - Date.now();
      if (left < MAX_TIMER_MS) this.timers.push(setTimeout(() => this.fail('E_UNAUTHORIZED', 'this API key has expired'), Math.max(0, left)));
    }
    if (this.raw.destroyed) return this.end();
    if (lastEventId === null || lastEventId >= position) {
      this.sent = lastEventId !== null && lastEventId > position ? lastEventId : position;
      this.goLive();
      return;
    }
    this.sent = lastEventId;
    this.replay(position).then(
      () => this.goLive(),
      (error: unknown) => {
        if (error instanceof ProtocolError) this.fail(error.code, error.message);
        else {
          this.logger.warn(`replay of #${this.access.name} failed: ${(error as Error).message}`);
          this.fail('E_UNAVAILABLE', 'the history could not be read; reconnect with Last-Event-ID');
        }
      },
    );
  }

  deliver(events: readonly FeedEvent[], blob: string): void {
    if (this.state === 'ended' || !this.allowed()) return;
    if (this.state === 'replaying') {
      this.buffered.push({ events, blob });
      this.bufferedBytes += blob.length;
      if (this.bufferedBytes > this.limits.maxBufferBytes) this.slow();
      return;
    }
    this.writeEvents(events, blob);
  }

  /** Ends the stream with `event: error` and `data: { code, message }`. */
  fail(code: ErrorCode, message: string): void {
    if (this.state === 'ended') return;
    this.access.onError?.(code);
    if (!this.raw.destroyed) {
      this.raw.end(`event: error\ndata: ${JSON.stringify({ code, message })}\n\n`);
      // A client that stopped reading keeps its socket buffer only this long.
      const kill = setTimeout(() => this.raw.destroy(), CLOSE_GRACE_MS).unref();
      this.raw.once('finish', () => clearTimeout(kill));
    }
    this.end();
  }

  private end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    for (const t of this.timers) clearTimeout(t);
    for (const off of this.unsubscribe) off();
    this.buffered = [];
    this.feed.release(this);
    this.onEnd(this);
  }

  private async replay(position: bigint): Promise<void> {
    let after = this.sent;
    for (;;) {
      const page = await this.topics.history(this.access.scope, this.access.name, { after: String(after), limit: TOPIC_LIMITS.maxHistoryPage });
      for (const m of page.messages) {
        const id = BigInt(m.id);
        if (id > position) return;
        if ((this.state as string) === 'ended') return;
        this.noteReplayed(id);
        this.sent = id;
        if (!this.raw.write(sseFrame(m))) await this.drained();
      }
      if (!page.has_more || page.messages.length === 0) return;
      after = BigInt(page.messages.at(-1)!.id);
    }
  }

  private goLive(): void {
    if (this.state !== 'replaying') return;
    this.state = 'live';
    const pending = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    for (const { events, blob } of pending) this.writeEvents(events, blob);
  }

  /** Writes what this client has not had: ids above `sent`, and late events the replay did not write. */
  private writeEvents(events: readonly FeedEvent[], blob: string): void {
    if (this.state !== 'live') return;
    // A feed batch is in id order: if its first event is new, all are (the common case: one write).
    const first = events[0]!;
    if (!first.late && first.id > this.sent) {
      this.sent = events.at(-1)!.id;
      this.write(blob);
      return;
    }
    const out: string[] = [];
    for (const e of events) {
      if (e.late ? this.replayed.has(e.id) : e.id <= this.sent) continue;
      if (!e.late) this.sent = e.id;
      out.push(e.frame);
    }
    if (out.length > 0) this.write(out.join(''));
  }

  /** Writes unless the socket already holds more than the limit: then the client is cut off. */
  private write(chunk: string): void {
    if (this.state === 'ended') return;
    if (this.raw.writableLength > this.limits.maxBufferBytes) return this.slow();
    this.raw.write(chunk);
  }

  private slow(): void {
    this.fail('E_SLOW_CONSUMER', `this stream fell more than ${this.limits.maxBufferBytes} bytes behind; reconnect with Last-Event-ID to resume from the last event you read`);
  }

  /** Expiry and member revocation, checked on every delivery without a query. */
  private allowed(): boolean {
    if (this.access.scope.member.revoked) {
      this.fail('E_REVOKED', 'the key’s member has been revoked');
      return false;
    }
    if (this.access.expiresAt !== null && this.access.expiresAt <= Date.now()) {
      this.fail('E_UNAUTHORIZED', 'this API key has expired');
      return false;
    }
    return true;
  }

  private async recheck(): Promise<void> {
    if (this.rechecking || this.state === 'ended') return;
    this.rechecking = true;
    try {
      await this.access.recheck();
    } catch (error) {
      // A database outage is not a revocation: the stream stays and the next re-read decides.
      if (error instanceof ProtocolError) this.fail(error.code, error.message);
    } finally {
      this.rechecking = false;
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.raw.off('drain', done);
        this.raw.off('close', done);
        resolve();
      };
      this.raw.on('drain', done);
      this.raw.on('close', done);
    });
  }

  private noteReplayed(id: bigint): void {
    this.replayed.add(id);
    this.replayedOrder.push(id);
    if (this.replayedOrder.length > REPLAYED_MEMORY) this.replayed.delete(this.replayedOrder.shift()!);
  }
}
