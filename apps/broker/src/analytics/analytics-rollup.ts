import { HANDOFF_BUCKETS_MS, handoffBucket } from '@claudemesh/core';

export const HOUR_MS = 3_600_000;
export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;

export interface MeshHour {
  meshId: string;
  hour: number;
  messages: number;
  topicPosts: number;
  delivered: number;
  bytes: number;
  /** Deliveries per HANDOFF_BUCKETS_MS bucket, the last one for slower ones. */
  handoff: number[];
}

export interface TopicHour {
  meshId: string;
  topicId: string;
  hour: number;
  posts: number;
}

export interface MemberHour {
  meshId: string;
  memberId: string;
  hour: number;
  /** Milliseconds online; whole seconds are flushed, the rest carried. */
  ms: number;
}

/**
 * What happened since the last flush, summed per (mesh, hour), (mesh, topic, hour) and
 * (mesh, member, hour): a few map updates per event and no I/O, so recording costs the hot path
 * nothing measurable. Flushing takes the whole rollup and starts a new one (AnalyticsRecorder).
 */
export class AnalyticsRollup {
  readonly meshes = new Map<string, MeshHour>();
  readonly topics = new Map<string, TopicHour>();
  readonly members = new Map<string, MemberHour>();

  get empty(): boolean {
    return this.meshes.size === 0 && this.topics.size === 0 && this.members.size === 0;
  }

  private mesh(meshId: string, at: number): MeshHour {
    const hour = hourOf(at);
    const key = `${meshId}|${hour}`;
    let row = this.meshes.get(key);
    if (!row) this.meshes.set(key, (row = { meshId, hour, messages: 0, topicPosts: 0, delivered: 0, bytes: 0, handoff: new Array<number>(HANDOFF_BUCKETS_MS.length + 1).fill(0) }));
    return row;
  }

  accepted(meshId: string, at: number, bytes: number): void {
    const row = this.mesh(meshId, at);
    row.messages++;
    row.bytes += bytes;
  }

  /** A delivery confirmed at `at`, `latencyMs` after its message was accepted. */
  delivered(meshId: string, at: number, latencyMs: number): void {
    const row = this.mesh(meshId, at);
    row.delivered++;
    row.handoff[handoffBucket(latencyMs)]!++;
  }

  topicPost(meshId: string, topicId: string, at: number, bytes: number): void {
    const row = this.mesh(meshId, at);
    row.topicPosts++;
    row.bytes += bytes;
    const hour = hourOf(at);
    const key = `${meshId}|${topicId}|${hour}`;
    const t = this.topics.get(key);
    if (t) t.posts++;
    else this.topics.set(key, { meshId, topicId, hour, posts: 1 });
  }

  /** Credits `from`..`to` (ms) of a member's time online, split at hour boundaries. */
  online(meshId: string, memberId: string, from: number, to: number): void {
    for (let start = from; start < to; ) {
      const hour = hourOf(start);
      const end = Math.min(to, hour + HOUR_MS);
      const key = `${meshId}|${memberId}|${hour}`;
      const m = this.members.get(key);
      if (m) m.ms += end - start;
      else this.members.set(key, { meshId, memberId, hour, ms: end - start });
      start = end;
    }
  }

  /** Adds another rollup's counts (a flush that failed goes back in, to be tried again). */
  merge(other: AnalyticsRollup): void {
    for (const r of other.meshes.values()) {
      const row = this.mesh(r.meshId, r.hour);
      row.messages += r.messages;
      row.topicPosts += r.topicPosts;
      row.delivered += r.delivered;
      row.bytes += r.bytes;
      r.handoff.forEach((n, i) => (row.handoff[i]! += n));
    }
    for (const [key, t] of other.topics) {
      const mine = this.topics.get(key);
      if (mine) mine.posts += t.posts;
      else this.topics.set(key, { ...t });
    }
    for (const [key, m] of other.members) {
      const mine = this.members.get(key);
      if (mine) mine.ms += m.ms;
      else this.members.set(key, { ...m });
    }
  }
}
