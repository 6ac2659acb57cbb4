import { Logger } from '@nestjs/common';
import { ProtocolError, TOPIC_LIMITS, type TopicMessage } from '@claudemesh/core';
import { topicChannel, type Bus } from '../bus/bus.js';
import type { TopicScope, TopicsService } from '../topics/topics.service.js';

/** One topic message as the streams write it; `late` ones carry no `id:` line (see TopicFeed). */
export interface FeedEvent {
  id: bigint;
  frame: string;
  late: boolean;
}

/** What a feed delivers to: one SSE connection. */
export interface FeedSubscriber {
  readonly scope: TopicScope;
  /** Events in id order (late ones aside); `blob` is their frames concatenated, shared by every subscriber. */
  deliver(events: readonly FeedEvent[], blob: string): void;
  /** The feed could no longer read the topic as this subscriber (it left a private topic, …). */
  fail(code: ProtocolError['code'], message: string): void;
}

export const sseFrame = (m: TopicMessage): string => `id: ${m.id}\nevent: message\ndata: ${JSON.stringify(m)}\n\n`;
const lateFrame = (m: TopicMessage): string => `event: message\ndata: ${JSON.stringify(m)}\n\n`;

/** How many recently emitted ids a feed remembers, to tell a late commit from a bus echo. */
const RECENT = 4096;
const RETRY_MS = 1_000;

/**
 * The ordered stream of one topic on this node, shared by all of its SSE connections.
 *
 * Bus events only wake it: it then reads the history after the last id it emitted and emits what
 * it finds, in id order. Posts publish after their commit but not necessarily in id order (on
 * Postgres two concurrent posts commit and publish in either order), so forwarding bus events as
 * they come would let a client's Last-Event-ID skip a lower id that arrives a moment later. A read
 * after a wake-up sees every message committed before it, so what the feed emits is a gap-free
 * prefix of the topic as far as the database has committed it — exactly when a topic's messages
 * commit in id order. If a message commits after a higher one was already read (two posts to the
 * same topic committing out of id order), its bus event arrives below the cursor: it is still
 * delivered live, as a `late` event without an `id:` line, so that no client's resume point moves
 * back (which would repeat what it already has).
 */
export class TopicFeed {
  private readonly logger = new Logger('TopicFeed');
  private readonly subs = new Set<FeedSubscriber>();
  private readonly recent = new Set<bigint>();
  private readonly recentOrder: bigint[] = [];
  private unsubscribe: (() => void) | null = null;
  private cursor = 0n;
  private dirty = false;
  private pumping = false;
  private retry: NodeJS.Timeout | null = null;
  private refs = 0;
  /** Resolves once the cursor is the topic's newest id; rejects if that read fails. */
  readonly ready: Promise<void>;

  constructor(
    readonly topicId: string,
    private readonly name: string,
    private readonly bus: Bus,
    private readonly topics: TopicsService,
    private scope: TopicScope,
    private readonly onIdle: (feed: TopicFeed) => void,
  ) {
    // Subscribe before reading the newest id, so nothing committed in between is missed.
    this.unsubscribe = bus.subscribe(topicChannel(topicId), (event) => {
      if (event.kind === 'topic') this.wake(event.message);
    });
    this.ready = this.init();
  }

  /** The id every attached subscriber has been (or will be) given everything up to. */
  get position(): bigint {
    return this.cursor;
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** Counts a connection that is opening (before `ready`), so the feed is not dropped meanwhile. */
  retain(): void {
    this.refs += 1;
  }

  /** Attach synchronously right after reading `position`: both happen in one turn of the event loop. */
  attach(sub: FeedSubscriber): void {
    this.subs.add(sub);
  }

  release(sub: FeedSubscriber | null): void {
    if (sub) this.subs.delete(sub);
    this.refs = Math.max(0, this.refs - 1);
    if (this.refs === 0) this.close();
  }

  close(): void {
    if (!this.unsubscribe) return;
    this.unsubscribe();
    this.unsubscribe = null;
    if (this.retry) clearTimeout(this.retry);
    this.subs.clear();
    this.onIdle(this);
  }

  private async init(): Promise<void> {
    try {
      const newest = await this.topics.history({ ...this.scope, topics: null }, this.name, { limit: 1 });
      const last = newest.messages.at(-1);
      this.cursor = last ? BigInt(last.id) : 0n;
      this.remember(this.cursor);
    } catch (error) {
      this.close();
      throw error;
    }
    if (this.dirty) void this.pump();
  }

  private wake(m: TopicMessage): void {
    const id = BigInt(m.id);
    if (id > this.cursor) {
      this.dirty = true;
      if (!this.pumping && this.retry === null) void this.pump();
      return;
    }
    // At or below the cursor: an echo of what a read already emitted, or a late commit.
    const oldest = this.recentOrder[0];
    if (this.recent.has(id) || oldest === undefined || id < oldest) return;
    this.remember(id);
    const late: FeedEvent = { id, frame: lateFrame(m), late: true };
    for (const s of [...this.subs]) s.deliver([late], late.frame);
  }

  private async pump(): Promise<void> {
    if (this.pumping || !this.unsubscribe) return;
    this.pumping = true;
    try {
      await this.ready.catch(() => undefined);
      while (this.dirty && this.unsubscribe) {
        this.dirty = false;
        for (;;) {
          const page = await this.read();
          if (!page || page.messages.length === 0) break;
          const events = page.messages.map((m): FeedEvent => ({ id: BigInt(m.id), frame: sseFrame(m), late: false }));
          for (const e of events) this.remember(e.id);
          this.cursor = events.at(-1)!.id;
          const blob = events.map((e) => e.frame).join('');
          for (const s of [...this.subs]) s.deliver(events, blob);
          if (!page.has_more) break;
        }
      }
    } catch (error) {
      // The database is unreachable (or similar): streams stay open and the feed reads again soon.
      this.logger.warn(`#${this.name}: ${(error as Error).message}; retrying in ${RETRY_MS} ms`);
      this.dirty = true;
      this.retry = setTimeout(() => {
        this.retry = null;
        void this.pump();
      }, RETRY_MS);
    } finally {
      this.pumping = false;
    }
  }

  /**
   * The next page after the cursor, read as one of the subscribers: one whose access is gone
   * (it left a private topic) is ended and the next one is tried.
   */
  private async read(): Promise<{ messages: TopicMessage[]; has_more: boolean } | null> {
    for (;;) {
      try {
        return await this.topics.history({ ...this.scope, topics: null }, this.name, { after: String(this.cursor), limit: TOPIC_LIMITS.maxHistoryPage });
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        const lost = this.scope.member.id;
        for (const s of [...this.subs]) if (s.scope.member.id === lost) s.fail(error.code, error.message);
        const next = [...this.subs][0];
        if (!next) return null;
        this.scope = next.scope;
      }
    }
  }

  private remember(id: bigint): void {
    this.recent.add(id);
    this.recentOrder.push(id);
    if (this.recentOrder.length > RECENT) this.recent.delete(this.recentOrder.shift()!);
  }
}

/** The feeds of this node, one per topic with at least one open stream. */
export class TopicFeeds {
  private readonly feeds = new Map<string, TopicFeed>();

  constructor(
    private readonly bus: Bus,
    private readonly topics: TopicsService,
  ) {}

  /** The topic's feed, retained for one opening connection (release it with `feed.release`). */
  open(topicId: string, name: string, scope: TopicScope): TopicFeed {
    let feed = this.feeds.get(topicId);
    if (!feed) {
      feed = new TopicFeed(topicId, name, this.bus, this.topics, scope, (f) => this.feeds.get(f.topicId) === f && this.feeds.delete(f.topicId));
      this.feeds.set(topicId, feed);
    }
    feed.retain();
    return feed;
  }

  get size(): number {
    return this.feeds.size;
  }

  closeAll(): void {
    for (const feed of [...this.feeds.values()]) feed.close();
  }
}
