import { Injectable } from '@nestjs/common';
import {
  ANALYTICS_WINDOW_HOURS, DEFAULT_ANALYTICS_BUCKET, HANDOFF_BUCKETS_MS, ProtocolError, percentileOf,
  type AnalyticsBucket, type AnalyticsWindow, type MeshAnalytics,
} from '@claudemesh/core';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';
import { PresenceService } from '../presence/presence.service.js';
import { HOUR_MS, hourOf } from './analytics-rollup.js';
import { AnalyticsRecorder } from './analytics.recorder.js';

const DAY_MS = 24 * HOUR_MS;
const BUSIEST_TOPICS = 10;

/** An owner or admin whose scope (if any) keeps admin rights over the whole mesh (not confined to topics). */
export function administersMesh(m: MemberRecord): boolean {
  return m.role !== 'member' && (!m.scope || (m.scope.capabilities.has('admin') && m.scope.topics === null));
}

/**
 * Per-mesh analytics, the read side (docs/protocol.md §8.7): sums of the hourly rollups over a
 * window, bucketed by hour or UTC day. This node's unflushed counts are flushed first, so an answer
 * includes everything this node has seen.
 */
@Injectable()
export class AnalyticsService {
  constructor(
    private readonly ds: DataSource,
    private readonly recorder: AnalyticsRecorder,
    private readonly presence: PresenceService,
  ) {}

  async forMesh(state: MeshState, viewer: MemberRecord, window: AnalyticsWindow, bucket?: AnalyticsBucket, now = Date.now()): Promise<MeshAnalytics> {
    if (!administersMesh(viewer)) throw new ProtocolError('E_FORBIDDEN', 'mesh analytics are for the owner and admins (with admin rights over the whole mesh)');
    const size = bucket ?? DEFAULT_ANALYTICS_BUCKET[window];
    const step = size === 'hour' ? HOUR_MS : DAY_MS;
    const last = size === 'hour' ? hourOf(now) : Math.floor(now / DAY_MS) * DAY_MS;
    const count = Math.ceil((ANALYTICS_WINDOW_HOURS[window] * HOUR_MS) / step);
    const from = last - (count - 1) * step;
    const meshId = state.mesh.id;
    await this.recorder.flush(now).catch(() => undefined);

    const since = new Date(from).toISOString();
    const hourly = await rows<{ hour: Date; messages: number; topic_posts: number; delivered: number; bytes: string }>(
      this.ds,
      'SELECT hour, messages, topic_posts, delivered, bytes FROM mesh_stats_hourly WHERE mesh_id = $1 AND hour >= $2',
      [meshId, since],
    );
    const series = Array.from({ length: count }, (_, i) => ({ t: from + i * step, messages: 0, topic_posts: 0, delivered: 0 }));
    const totals = { messages: 0, topic_posts: 0, delivered: 0, bytes: 0 };
    for (const h of hourly) {
      const point = series[Math.floor((h.hour.getTime() - from) / step)];
      if (!point) continue;
      point.messages += h.messages;
      point.topic_posts += h.topic_posts;
      point.delivered += h.delivered;
      totals.messages += h.messages;
      totals.topic_posts += h.topic_posts;
      totals.delivered += h.delivered;
      totals.bytes += Number(h.bytes);
    }

    const buckets = new Array<number>(HANDOFF_BUCKETS_MS.length + 1).fill(0);
    const handoffRows = await rows<{ bucket: number; n: number }>(
      this.ds,
      'SELECT bucket, sum(deliveries)::int AS n FROM mesh_handoff_hourly WHERE mesh_id = $1 AND hour >= $2 GROUP BY bucket',
      [meshId, since],
    );
    for (const r of handoffRows) if (r.bucket >= 0 && r.bucket < buckets.length) buckets[r.bucket] = r.n;

    // Topics the viewer could list: public ones, and private ones it is in.
    const topics = await rows<{ name: string; posts: number }>(
      this.ds,
      `SELECT t.name, sum(s.posts)::int AS posts
       FROM mesh_topic_stats_hourly s JOIN topics t ON t.id = s.topic_id AND t.mesh_id = s.mesh_id
       WHERE s.mesh_id = $1 AND s.hour >= $2
         AND (t.visibility = 'public' OR EXISTS (SELECT 1 FROM topic_members tm WHERE tm.topic_id = t.id AND tm.member_id = $3))
       GROUP BY t.name ORDER BY posts DESC, t.name LIMIT ${BUSIEST_TOPICS}`,
      [meshId, since, viewer.id],
    );

    const uptimeRows = await rows<{ member_id: string; seconds: number }>(
      this.ds,
      'SELECT member_id, sum(seconds_online)::int AS seconds FROM member_uptime_hourly WHERE mesh_id = $1 AND hour >= $2 GROUP BY member_id',
      [meshId, since],
    );
    const seconds = new Map(uptimeRows.map((r) => [String(r.member_id), r.seconds]));
    const windowSeconds = (now - from) / 1000;
    // As list_peers shows presence: a member that does not grant the viewer `read` is left out.
    const uptime = state
      .activeMembers()
      .filter((m) => m.id === viewer.id || state.allows(m.id, viewer.id, 'read'))
      .map((m) => {
        const s = seconds.get(m.id) ?? 0;
        return {
          member_pubkey: m.pubkey,
          display_name: m.displayName,
          seconds_online: s,
          percent: windowSeconds > 0 ? Math.min(100, Math.round((s / windowSeconds) * 1_000_000) / 10_000) : 0,
          online: this.presence.sessionsOf(m.id).size > 0,
        };
      })
      .sort((a, b) => b.seconds_online - a.seconds_online || a.display_name.localeCompare(b.display_name));

    return {
      mesh_id: meshId,
      window,
      bucket: size,
      from,
      to: now,
      collecting: this.recorder.enabled,
      retention_days: this.recorder.settings.retentionDays,
      series,
      totals,
      handoff: {
        count: buckets.reduce((a, b) => a + b, 0),
        p50_ms: percentileOf(buckets, 0.5),
        p90_ms: percentileOf(buckets, 0.9),
        p99_ms: percentileOf(buckets, 0.99),
        histogram: buckets.map((n, i) => ({ le_ms: i < HANDOFF_BUCKETS_MS.length ? HANDOFF_BUCKETS_MS[i]! : null, count: n })),
      },
      busiest_topics: topics,
      uptime,
    };
  }
}
