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
