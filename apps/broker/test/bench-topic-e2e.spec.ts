import { cryptoReady } from '@claudemesh/crypto';
import { describe, expect, it } from 'vitest';
import { topicE2e, topicE2eLine } from '../../../tools/bench/src/scenarios/topic-e2e.js';
import { MeshSystem } from '../../../tools/bench/src/transports/mesh.js';

/**
 * The bench's topic-e2e scenario (docs/performance.md) at tiny sizes against the built broker: it
 * runs end to end, every message reaches every subscriber and opens, every rotation reaches every
 * member. Counts only: the figures themselves are `npm run bench`'s, never asserted here.
 */
describe('bench scenario topic-e2e at tiny sizes', () => {
  it('delivers and opens every message on both topics and every rotation at every member', { timeout: 120_000 }, async () => {
    await cryptoReady();
    const sys = new MeshSystem(undefined);
    await sys.start();
    try {
      const row = await topicE2e(sys, {
        subscribers: 4, messages: 6, rounds: 2, window: 2, size: 64, timeoutMs: 30_000, warmupMessages: 2, rotationMembers: 4, rotations: 2, log: () => undefined,
      });
      expect(row).toMatchObject({ subscribers: 4, rounds: 2, delivered: 48, baseline_delivered: 48, duplicates: 0, unopened: 0 });
      expect(row['rotation']).toMatchObject({ members: 4, rotations: 2, refused: 0 });
      expect((row['rotation'] as { all_opened_ms: number[] }).all_opened_ms).toHaveLength(2);
      expect(topicE2eLine({ db: 'embedded', ...row })).toContain('e2e/plaintext');
    } finally {
      await sys.stop();
    }
  });
});
