import { HANDOFF_BUCKETS_MS } from '@claudemesh/core';
import { describe, expect, it } from 'vitest';
import { AnalyticsRollup, HOUR_MS } from './analytics-rollup.js';

const MESH = '00000000-0000-4000-8000-000000000001';
const H = 1_800_000 * HOUR_MS;

describe('AnalyticsRollup', () => {
  it('sums messages, posts, deliveries and bytes per mesh and hour, and latencies into their buckets', () => {
    const r = new AnalyticsRollup();
    r.accepted(MESH, H + 10, 100);
    r.accepted(MESH, H + 20, 50);
    r.topicPost(MESH, '7', H + 30, 5);
    r.delivered(MESH, H + 40, 3);
    r.delivered(MESH, H + HOUR_MS + 1, 70_000);
    const now = r.meshes.get(`${MESH}|${H}`)!;
    expect(now).toMatchObject({ messages: 2, topicPosts: 1, delivered: 1, bytes: 155 });
    expect(now.handoff[HANDOFF_BUCKETS_MS.indexOf(5)]).toBe(1);
    const next = r.meshes.get(`${MESH}|${H + HOUR_MS}`)!;
    expect(next.handoff[HANDOFF_BUCKETS_MS.length]).toBe(1);
    expect([...r.topics.values()]).toEqual([{ meshId: MESH, topicId: '7', hour: H, posts: 1 }]);
  });

  it('splits time online at hour boundaries', () => {
    const r = new AnalyticsRollup();
    r.online(MESH, '3', H + HOUR_MS - 1_000, H + 2 * HOUR_MS + 2_000);
    expect([...r.members.values()].map((m) => [m.hour - H, m.ms])).toEqual([[0, 1_000], [HOUR_MS, HOUR_MS], [2 * HOUR_MS, 2_000]]);
  });

  it('merges a rollup back without losing or doubling a count', () => {
    const a = new AnalyticsRollup();
    const b = new AnalyticsRollup();
    a.accepted(MESH, H, 1);
    a.online(MESH, '3', H, H + 500);
    b.accepted(MESH, H, 2);
    b.topicPost(MESH, '7', H, 1);
    b.online(MESH, '3', H, H + 700);
    a.merge(b);
    expect(a.meshes.get(`${MESH}|${H}`)).toMatchObject({ messages: 2, topicPosts: 1, bytes: 4 });
    expect([...a.members.values()][0]!.ms).toBe(1_200);
    expect([...a.topics.values()][0]!.posts).toBe(1);
  });
});
