import { describe, expect, it } from 'vitest';
import { RateLimitedError } from '../http/rate-limited.error.js';
import { SearchGate } from './search-gate.js';

/** A search that finishes when the test says so. */
function held(): { work: () => Promise<string>; started: () => boolean; finish: (v: string) => void } {
  let resolve!: (v: string) => void;
  let began = false;
  const done = new Promise<string>((r) => (resolve = r));
  return {
    work: () => {
      began = true;
      return done;
    },
    started: () => began,
    finish: (v) => resolve(v),
  };
}

describe('SearchGate', () => {
  it('runs at most `concurrency` searches, queues the next ones in order, and refuses beyond the queue with E_RATE_LIMITED', async () => {
    const gate = new SearchGate(1, 2);
    const [a, b, c] = [held(), held(), held()];
    const pa = gate.run(a.work);
    const pb = gate.run(b.work);
    const pc = gate.run(c.work);
    await Promise.resolve();
    expect([a.started(), b.started(), c.started()]).toEqual([true, false, false]);
    const refused = await gate.run(async () => 'never').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect(refused).toMatchObject({ code: 'E_RATE_LIMITED', retryAfterMs: 1_000 });

    a.finish('a');
    expect(await pa).toBe('a');
    await new Promise((r) => setImmediate(r));
    expect([b.started(), c.started()]).toEqual([true, false]);
    b.finish('b');
    c.finish('c');
    expect(await Promise.all([pb, pc])).toEqual(['b', 'c']);
    // Everything released: a new search starts at once.
    const d = held();
    const pd = gate.run(d.work);
    await Promise.resolve();
    expect(d.started()).toBe(true);
    d.finish('d');
    await pd;
  });

  it('frees the slot of a search that fails', async () => {
    const gate = new SearchGate(1, 0);
    await expect(gate.run(() => Promise.reject(new Error('statement timeout')))).rejects.toThrow('statement timeout');
    expect(await gate.run(async () => 'next')).toBe('next');
  });
});
