import { cryptoReady } from '@claudemesh/crypto';
import { describe, expect, it } from 'vitest';
import { bridgeBench, bridgeLine } from '../../../tools/bench/src/scenarios/bridge.js';
import { MeshSystem } from '../../../tools/bench/src/transports/mesh.js';

/**
 * The bench's bridge scenario (docs/performance.md "Bridge") at tiny sizes against the built broker
 * and the built bridge plugin: it runs end to end, every direct and every bridged message reaches
 * the reader, the bridge is never restarted. Counts only: the latencies are `npm run bench`'s.
 */
describe('bench scenario bridge at tiny sizes', () => {
  it('passes a run only when both phases kept up with the rate', () => {
    const row = { db: 'postgres', messages: 2000, rate: 500, rounds: 1, direct_p50_ms: 2, direct_p99_ms: 10, bridged_p50_ms: 8, bridged_p99_ms: 25, added_p50_ms: 6, added_p99_ms: 15, missing: 0, bridge_restarts: 0 };
    expect(bridgeLine({ ...row, direct_msgs_s: 490, forwarded_msgs_s: 488 })).toMatch(/ms ✓ \(medians\)$/);
    // A direct phase that fell behind further than the bridged one made the difference negative: no pass.
    expect(bridgeLine({ ...row, added_p99_ms: -6637, direct_msgs_s: 60, forwarded_msgs_s: 40 })).toContain('✗ (did not keep up with 500/s: 60 direct, 40 forwarded per second)');
    expect(bridgeLine({ ...row, added_p99_ms: 30, direct_msgs_s: 490, forwarded_msgs_s: 488 })).toMatch(/ms ✗ \(medians\)$/);
    // Both kept up but the direct phase's tail was the longer (its warm-up): no comparison, no pass.
    expect(bridgeLine({ ...row, added_p99_ms: -147.9, direct_msgs_s: 499, forwarded_msgs_s: 499 })).toMatch(/ms ✗ \(the direct phase was slower: no comparison\) \(medians\)$/);
  });


  it('delivers every direct and every forwarded message, with no bridge restart', { timeout: 180_000 }, async () => {
    await cryptoReady();
    const sys = new MeshSystem(undefined);
    await sys.start();
    try {
      const row = await bridgeBench(sys, { messages: 10, rate: 50, rounds: 2, size: 64, timeoutMs: 60_000, log: () => undefined });
      expect(row).toMatchObject({ messages: 10, rate: 50, rounds: 2, missing: 0, bridge_restarts: 0 });
      expect(row['per_round']).toHaveLength(2);
      expect(typeof row['added_p99_ms']).toBe('number');
      expect(bridgeLine({ db: 'embedded', ...row })).toMatch(/^bridge \(embedded\): 10 messages at 50\/s × 2 rounds: direct post p50 /);
    } finally {
      await sys.stop();
    }
  });
});
