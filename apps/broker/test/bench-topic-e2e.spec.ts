import { cryptoReady } from '@claudemesh/crypto';
import { describe, expect, it } from 'vitest';
import { topicE2e, topicE2eLine } from '../../../tools/bench/src/scenarios/topic-e2e.js';
import { MeshSystem } from '../../../tools/bench/src/transports/mesh.js';

/**
 * The bench's topic-e2e scenario (docs/performance.md) at tiny sizes against the built broker: it
 * runs end to end with both e2e phases, every message reaches every subscriber, the probe opens
 * every message and the others get every copy sealed, every subscriber opens every message in the
 * all-open phase, every rotation reaches every member. Counts only: the figures themselves are
 * `npm run bench`'s, never asserted here.
 */
describe('bench scenario topic-e2e at tiny sizes', () => {
  it('delivers every message in every phase, the probes and (all-open) every subscriber open each, every rotation at every member', { timeout: 120_000 }, async () => {
    await cryptoReady();
    const sys = new MeshSystem(undefined);
    await sys.start();
    try {
      const row = await topicE2e(sys, {
        subscribers: 4, messages: 6, rounds: 2, window: 2, size: 64, timeoutMs: 30_000, warmupMessages: 2, rotationMembers: 4, rotations: 2,
        probes: 1, open: 'both', log: () => undefined,
      });
      expect(row).toMatchObject({
        subscribers: 4, rounds: 2, probes: 1, duplicates: 0, baseline_delivered: 48, baseline_malformed: 0,
        // Primary: 1 probe opens all 12, the other 3 get all 12 sealed.
        delivered: 48, opened: 12, opened_expected: 12, unopened: 0, malformed: 0, unmatched: 0, sender_rotations: 0,
        // Secondary: all 4 open all 12.
        all_open_delivered: 48, all_open_opened: 48, all_open_opened_expected: 48, all_open_unopened: 0, all_open_malformed: 0,
      });
      expect(row['per_round']).toHaveLength(2);
      expect(row['rotation']).toMatchObject({ members: 4, rotations: 2, refused: 0 });
      expect((row['rotation'] as { all_opened_ms: number[] }).all_opened_ms).toHaveLength(2);
      const line = topicE2eLine({ db: 'embedded', ...row });
      expect(line).toContain('PRIMARY (1 probe(s) open and verify');
      expect(line).toContain('SECONDARY (all 4 open and verify');
    } finally {
      await sys.stop();
    }
  });
});
