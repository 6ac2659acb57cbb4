import { z } from 'zod';
import { PubkeyHex, Uuid } from './primitives.js';

/**
 * Per-mesh analytics (docs/protocol.md §8.7): counts and durations from metadata only — when a
 * message was accepted and confirmed delivered, which topic a post went to, when sessions came and
 * went — never a body, a ciphertext or a name chosen by a sender (topic and member names aside).
 */

/** The windows an analytics answer covers, ending now. */
export const AnalyticsWindow = z.enum(['24h', '7d', '30d']);
export type AnalyticsWindow = z.infer<typeof AnalyticsWindow>;
export const AnalyticsBucket = z.enum(['hour', 'day']);
export type AnalyticsBucket = z.infer<typeof AnalyticsBucket>;

export const ANALYTICS_WINDOW_HOURS: Record<AnalyticsWindow, number> = { '24h': 24, '7d': 7 * 24, '30d': 30 * 24 };
/** The bucket a window gets when the query names none: hours for a day, days beyond. */
export const DEFAULT_ANALYTICS_BUCKET: Record<AnalyticsWindow, AnalyticsBucket> = { '24h': 'hour', '7d': 'day', '30d': 'day' };

/**
 * Upper bounds (ms) of the handoff-latency histogram's buckets; one more bucket counts what is
 * slower than the last. Fixed: the rollup tables store counts by bucket index (migrations/0018).
 */
export const HANDOFF_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000] as const;

/** The bucket index of a handoff of `ms` milliseconds: the first whose bound holds it, else the overflow bucket. */
export function handoffBucket(ms: number): number {
  for (let i = 0; i < HANDOFF_BUCKETS_MS.length; i++) if (ms <= HANDOFF_BUCKETS_MS[i]!) return i;
  return HANDOFF_BUCKETS_MS.length;
}

/**
 * The `q` quantile (0 < q ≤ 1) of a histogram, as the upper bound of the bucket the rank falls in;
 * null for an empty histogram or a rank in the overflow bucket (slower than the last bound).
 */
export function percentileOf(counts: readonly number[], q: number, bounds: readonly number[] = HANDOFF_BUCKETS_MS): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return i < bounds.length ? bounds[i]! : null;
  }
  return null;
}

export const AnalyticsQuery = z.strictObject({
  window: AnalyticsWindow.default('24h'),
  bucket: AnalyticsBucket.optional(),
});

const Count = z.number().int().nonnegative();

export const AnalyticsPoint = z.object({
  /** The bucket's start (ms since the epoch, UTC hour or day). */
  t: z.number().int(),
  /** Direct and group messages accepted (each once, however many recipients). */
  messages: Count,
  /** Topic posts stored. */
  topic_posts: Count,
  /** Deliveries confirmed (a recipient's client said it has the message). */
  delivered: Count,
});

export const MeshAnalytics = z.object({
  mesh_id: Uuid,
  window: AnalyticsWindow,
  bucket: AnalyticsBucket,
  /** The first bucket's start and the answer's time (ms since the epoch). */
  from: z.number().int(),
  to: z.number().int(),
  /** Whether this broker collects analytics (CLAUDEMESH_ANALYTICS_RETENTION_DAYS > 0). */
  collecting: z.boolean(),
  retention_days: Count,
  series: z.array(AnalyticsPoint),
  totals: z.object({ messages: Count, topic_posts: Count, delivered: Count, bytes: Count }),
  /**
   * Accepted → delivered confirmation, per delivery. Percentiles are the upper bound of the
   * histogram bucket the rank falls in (ms); null when nothing was delivered or the rank is past the last bound.
   */
  handoff: z.object({
    count: Count,
    p50_ms: z.number().nullable(),
    p90_ms: z.number().nullable(),
    p99_ms: z.number().nullable(),
    /** Every bucket: its upper bound (null: slower than the last) and how many deliveries fell in it. */
    histogram: z.array(z.object({ le_ms: z.number().nullable(), count: Count })),
  }),
  /** Up to 10 topics by posts in the window, most first (topics the caller may see). */
  busiest_topics: z.array(z.object({ name: z.string(), posts: Count })),
  /** Every active member the caller may see: seconds with at least one session, over the window. */
  uptime: z.array(
    z.object({
      member_pubkey: PubkeyHex,
      display_name: z.string(),
      seconds_online: Count,
      percent: z.number().min(0).max(100),
      online: z.boolean(),
    }),
  ),
});
export type MeshAnalytics = z.infer<typeof MeshAnalytics>;
