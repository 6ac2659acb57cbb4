import { describe, expect, it } from 'vitest';
import { randomBytes, randomId } from './random.js';

describe('randomBytes', () => {
  it('returns the requested length from the pool and above it', () => {
    for (const n of [0, 1, 24, 32, 256, 257, 10_000]) expect(randomBytes(n)).toHaveLength(n);
  });

  it('never hands out the same bytes twice across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) seen.add(Buffer.from(randomBytes(24)).toString('hex'));
    expect(seen.size).toBe(2_000);
  });

  it('gives bytes that look uniform (each byte value appears, no value dominates)', () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 1_000; i++) for (const b of randomBytes(64)) counts[b]! += 1;
    expect(Math.min(...counts)).toBeGreaterThan(150);
    expect(Math.max(...counts)).toBeLessThan(360);
  });

  it('refuses a negative or fractional length', () => {
    expect(() => randomBytes(-1)).toThrow();
    expect(() => randomBytes(1.5)).toThrow();
  });

  it('makes 22-char base64url ids', () => {
    expect(randomId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});
