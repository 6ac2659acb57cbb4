import { describe, expect, it } from 'vitest';
import { HANDOFF_BUCKETS_MS, handoffBucket, percentileOf } from '../src/protocol/v1/analytics.js';

describe('handoff histogram', () => {
  it('puts a latency in the first bucket whose upper bound holds it, and past 60 s in the overflow bucket', () => {
    expect(handoffBucket(0)).toBe(0);
    expect(handoffBucket(1)).toBe(0);
    expect(handoffBucket(1.5)).toBe(1);
    expect(handoffBucket(25)).toBe(HANDOFF_BUCKETS_MS.indexOf(25));
    expect(handoffBucket(26)).toBe(HANDOFF_BUCKETS_MS.indexOf(50));
    expect(handoffBucket(60_000)).toBe(HANDOFF_BUCKETS_MS.length - 1);
    expect(handoffBucket(60_001)).toBe(HANDOFF_BUCKETS_MS.length);
  });

  it('answers a percentile as the upper bound of the bucket its rank falls in', () => {
    const counts = new Array<number>(HANDOFF_BUCKETS_MS.length + 1).fill(0);
    // 100 deliveries: 50 within 5 ms, 40 within 100 ms, 9 within 1 s, 1 within 30 s.
    counts[handoffBucket(5)] = 50;
    counts[handoffBucket(100)] = 40;
    counts[handoffBucket(1_000)] = 9;
    counts[handoffBucket(30_000)] = 1;
    expect(percentileOf(counts, 0.5)).toBe(5);
    expect(percentileOf(counts, 0.51)).toBe(100);
    expect(percentileOf(counts, 0.9)).toBe(100);
    expect(percentileOf(counts, 0.99)).toBe(1_000);
    expect(percentileOf(counts, 1)).toBe(30_000);
  });

  it('answers null for an empty histogram and for a rank in the overflow bucket', () => {
    const counts = new Array<number>(HANDOFF_BUCKETS_MS.length + 1).fill(0);
    expect(percentileOf(counts, 0.5)).toBeNull();
    counts[0] = 1;
    counts[HANDOFF_BUCKETS_MS.length] = 1;
    expect(percentileOf(counts, 0.5)).toBe(1);
    expect(percentileOf(counts, 0.99)).toBeNull();
  });
});
