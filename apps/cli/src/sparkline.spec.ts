import { describe, expect, it } from 'vitest';
import { durationText, latencyText, sparkline } from './sparkline.js';

describe('sparkline', () => {
  it('scales to the largest value: the maximum is a full block, zero a space, a small share the lowest block', () => {
    expect(sparkline([0, 1, 2, 4, 8])).toBe(' ▁▂▄█');
    expect(sparkline([3, 3])).toBe('██');
    expect(sparkline([1, 100])).toBe('▁█');
  });

  it('draws an empty series and an all-zero series as spaces', () => {
    expect(sparkline([])).toBe('');
    expect(sparkline([0, 0, 0])).toBe('   ');
  });

  it('uses one of the eight blocks per value, never more characters than values', () => {
    const line = sparkline(Array.from({ length: 24 }, (_, i) => (i * 7) % 11));
    expect([...line]).toHaveLength(24);
    expect([...line].every((c) => ' ▁▂▃▄▅▆▇█'.includes(c))).toBe(true);
  });
});

describe('durations and latencies', () => {
  it('writes seconds as hours and minutes, minutes and seconds, or seconds', () => {
    expect(durationText(0)).toBe('0s');
    expect(durationText(45)).toBe('45s');
    expect(durationText(750)).toBe('12m 30s');
    expect(durationText(11_100)).toBe('3h 05m');
  });

  it('writes a bucket bound as "within", the overflow as "over the last bound", nothing as a dash', () => {
    expect(latencyText(25, 3, 60_000)).toBe('≤25ms');
    expect(latencyText(2_500, 3, 60_000)).toBe('≤2.5s');
    expect(latencyText(null, 3, 60_000)).toBe('>60s');
    expect(latencyText(null, 0, 60_000)).toBe('-');
  });
});
