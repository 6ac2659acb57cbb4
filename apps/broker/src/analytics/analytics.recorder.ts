import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { AnalyticsRollup } from './analytics-rollup.js';

/** What `CLAUDEMESH_ANALYTICS_*` set (broker.config.ts). */
export interface AnalyticsSettings {
  /** Hourly rollups older than this are deleted; 0 turns analytics off (nothing is recorded or stored). */
  retentionDays: number;
  /** How often the in-memory counts are added to the rollup tables. */
  flushMs: number;
}

/** Old hours are deleted at start and then this often. */
const PRUNE_EVERY_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * One statement per flush (so one implicit transaction, nothing held across other work — the
 * embedded database has a single session): each rollup table gets its rows added with
 * INSERT … ON CONFLICT DO UPDATE SET x = x + EXCLUDED.x, so several broker nodes add up.
 */
const FLUSH = `
WITH s AS (
  INSERT INTO mesh_stats_hourly (mesh_id, hour, messages, topic_posts, delivered, bytes)
  SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::int[], $5::int[], $6::bigint[])
  ON CONFLICT (mesh_id, hour) DO UPDATE SET
    messages = mesh_stats_hourly.messages + EXCLUDED.messages,
    topic_posts = mesh_stats_hourly.topic_posts + EXCLUDED.topic_posts,
    delivered = mesh_stats_hourly.delivered + EXCLUDED.delivered,
    bytes = mesh_stats_hourly.bytes + EXCLUDED.bytes
  RETURNING 1
), h AS (
  INSERT INTO mesh_handoff_hourly (mesh_id, hour, bucket, deliveries)
  SELECT * FROM unnest($7::uuid[], $8::timestamptz[], $9::smallint[], $10::int[])
  ON CONFLICT (mesh_id, hour, bucket) DO UPDATE SET deliveries = mesh_handoff_hourly.deliveries + EXCLUDED.deliveries
  RETURNING 1
), t AS (
  INSERT INTO mesh_topic_stats_hourly (mesh_id, topic_id, hour, posts)
  SELECT * FROM unnest($11::uuid[], $12::bigint[], $13::timestamptz[], $14::int[])
  ON CONFLICT (mesh_id, hour, topic_id) DO UPDATE SET posts = mesh_topic_stats_hourly.posts + EXCLUDED.posts
  RETURNING 1
), u AS (
  INSERT INTO member_uptime_hourly (mesh_id, member_id, hour, seconds_online)
  SELECT * FROM unnest($15::uuid[], $16::bigint[], $17::timestamptz[], $18::int[])
  -- Capped: a member connected to two broker nodes at once is online once.
  ON CONFLICT (mesh_id, hour, member_id) DO UPDATE SET seconds_online = LEAST(3600, member_uptime_hourly.seconds_online + EXCLUDED.seconds_online)
  RETURNING 1
)
SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM h) + (SELECT count(*) FROM t) + (SELECT count(*) FROM u) AS n`;

const PRUNE = `
WITH s AS (DELETE FROM mesh_stats_hourly WHERE hour < $1 RETURNING 1),
     h AS (DELETE FROM mesh_handoff_hourly WHERE hour < $1 RETURNING 1),
     t AS (DELETE FROM mesh_topic_stats_hourly WHERE hour < $1 RETURNING 1),
     u AS (DELETE FROM member_uptime_hourly WHERE hour < $1 RETURNING 1)
SELECT ((SELECT count(*) FROM s) + (SELECT count(*) FROM h) + (SELECT count(*) FROM t) + (SELECT count(*) FROM u))::int AS n`;

const iso = (ms: number): string => new Date(ms).toISOString();

interface Online {
  meshId: string;
  memberId: string;
  sessions: number;
  /** Credited up to here (ms). */
  since: number;
}

/**
 * Per-mesh analytics, the write side (docs/self-hosting.md "Analytics"): the hot paths report what
 * they did (a message accepted, a delivery confirmed, a topic post stored, a session opened or
 * closed) into an in-memory rollup; every `flushMs` and at shutdown one statement adds it to the
 * hourly tables; every hour the hours past the retention are deleted. Metadata only: ids, times,
 * counts and byte totals.
 */
@Injectable()
export class AnalyticsRecorder implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly settings: AnalyticsSettings;
  private rollup = new AnalyticsRollup();
  private readonly online = new Map<string, Online>();
  private timer: NodeJS.Timeout | undefined;
  /** The flush (or prune) running now: the next one waits for it. */
  private running: Promise<unknown> = Promise.resolve();
  private lastPrune = 0;
  private readonly logger = new Logger('Analytics');

  constructor(
    private readonly ds: DataSource,
    @Inject(BROKER_CONFIG) config: BrokerConfig,
  ) {
    this.settings = config.analytics;
  }

  get enabled(): boolean {
    return this.settings.retentionDays > 0;
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => void this.flush().catch(() => undefined), this.settings.flushMs).unref();
  }

  /** After every module is destroyed (sessions closed, writers idle), while the database is still open. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    if (!this.enabled) return;
    const now = Date.now();
    for (const o of this.online.values()) {
      this.rollup.online(o.meshId, o.memberId, o.since, now);
      o.since = now;
    }
    await this.flush().catch(() => undefined);
  }

  /** A direct or group message stored (not a retry), at the broker's `at` (ms). */
  accepted(meshId: string, at: number, bytes: number): void {
    if (this.enabled) this.rollup.accepted(meshId, at, bytes);
  }

  /** A delivery whose recipient confirmed it at `at`, its message having been accepted at `sentAt`. */
  delivered(meshId: string, sentAt: number, at: number): void {
    if (this.enabled) this.rollup.delivered(meshId, at, Math.max(0, at - sentAt));
  }

  topicPost(meshId: string, topicId: string, at: number, bytes: number): void {
    if (this.enabled) this.rollup.topicPost(meshId, topicId, at, bytes);
  }

  /** A member is online while it has at least one session (on this node). */
  sessionOpened(meshId: string, memberId: string, now = Date.now()): void {
    if (!this.enabled) return;
    const key = `${meshId}|${memberId}`;
    const o = this.online.get(key);
    if (o) o.sessions++;
    else this.online.set(key, { meshId, memberId, sessions: 1, since: now });
  }

  sessionClosed(meshId: string, memberId: string, now = Date.now()): void {
    const key = `${meshId}|${memberId}`;
    const o = this.online.get(key);
    if (!o) return;
    if (--o.sessions > 0) return;
    this.online.delete(key);
    this.rollup.online(meshId, memberId, o.since, now);
  }

  /**
   * Adds what was recorded since the last flush to the rollup tables (open sessions credited up to
   * now) and, once an hour, prunes. Flushes run one at a time; a failed one puts its counts back.
   */
  flush(now = Date.now()): Promise<void> {
    const run = this.running.catch(() => undefined).then(() => this.flushNow(now));
    this.running = run;
    return run;
  }

  /** Deletes rollup hours that began before the retention window; returns how many rows went. */
  async prune(now = Date.now()): Promise<number> {
    if (!this.enabled) return 0;
    this.lastPrune = now;
    const [row] = (await this.ds.query(PRUNE, [iso(now - this.settings.retentionDays * DAY_MS)])) as Array<{ n: number }>;
    return Number(row?.n ?? 0);
  }

  private async flushNow(now: number): Promise<void> {
    if (!this.enabled) return;
    for (const o of this.online.values()) {
      this.rollup.online(o.meshId, o.memberId, o.since, Math.max(o.since, now));
      o.since = Math.max(o.since, now);
    }
    const taken = this.rollup;
    this.rollup = new AnalyticsRollup();
    try {
      if (!taken.empty) await this.write(taken);
    } catch (error) {
      this.rollup.merge(taken);
      this.logger.warn(`analytics not flushed (kept for the next try): ${(error as Error).message}`);
      throw error;
    }
    if (now - this.lastPrune >= PRUNE_EVERY_MS) await this.prune(now);
  }

  private async write(r: AnalyticsRollup): Promise<void> {
    const meshes = [...r.meshes.values()];
    const handoff = meshes.flatMap((m) => m.handoff.flatMap((n, bucket) => (n > 0 ? [{ m, bucket, n }] : [])));
    const topics = [...r.topics.values()];
    // Whole seconds go now; the rest stays for the next flush.
    const members = [...r.members.values()].filter((m) => m.ms >= 1000);
    await this.ds.query(FLUSH, [
      meshes.map((m) => m.meshId), meshes.map((m) => iso(m.hour)), meshes.map((m) => m.messages), meshes.map((m) => m.topicPosts), meshes.map((m) => m.delivered), meshes.map((m) => m.bytes),
      handoff.map((h) => h.m.meshId), handoff.map((h) => iso(h.m.hour)), handoff.map((h) => h.bucket), handoff.map((h) => h.n),
      topics.map((t) => t.meshId), topics.map((t) => t.topicId), topics.map((t) => iso(t.hour)), topics.map((t) => t.posts),
      members.map((m) => m.meshId), members.map((m) => m.memberId), members.map((m) => iso(m.hour)), members.map((m) => Math.min(3600, Math.floor(m.ms / 1000))),
    ]);
    for (const m of r.members.values()) {
      const rest = m.ms % 1000;
      if (rest > 0) this.rollup.online(m.meshId, m.memberId, m.hour, m.hour + rest);
    }
  }
}
