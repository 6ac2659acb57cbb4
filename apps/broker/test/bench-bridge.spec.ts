import { cryptoReady } from '@claudemesh/crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    const dir = mkdtempSync(join(tmpdir(), 'cmh-bench-trace-'));
    const trace = join(dir, 'trace.jsonl');
    process.env['CLAUDEMESH_BENCH_BRIDGE_TRACE'] = trace;
    try {
      const lines: string[] = [];
      const row = await bridgeBench(sys, { messages: 10, rate: 50, rounds: 2, warmupMessages: 4, size: 64, timeoutMs: 60_000, log: (l) => lines.push(l) });
      expect(row).toMatchObject({ messages: 10, rate: 50, rounds: 2, missing: 0, bridge_restarts: 0, warmup_messages: 4, warmup_missing: 0 });
      // The warm-up is reported apart (its own line and fields), never in a round.
      expect(typeof row['warmup_bridged_p99_ms']).toBe('number');
      expect(lines.filter((l) => l.includes('warm-up (not counted): 4 messages a phase'))).toHaveLength(1);
      expect(row['per_round']).toHaveLength(2);
      expect(typeof row['added_p99_ms']).toBe('number');
      expect(bridgeLine({ db: 'embedded', ...row })).toMatch(/^bridge \(embedded\): 10 messages at 50\/s × 2 rounds: direct post p50 /);
      // The trace: a line per message of each phase (warm-up included), each split at the broker's two stores
      // (no rotation comes in so few messages: no epoch lines here).
      const traced = readFileSync(trace, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const messages = traced.filter((l) => typeof l['phase'] === 'string');
      expect(messages.map((l) => l['phase'])).toEqual(['wd-', 'wb-', 'd0-', 'b0-', 'd1-', 'b1-'].flatMap((p) => Array<string>(p.startsWith('w') ? 4 : 10).fill(p)));
      for (const l of messages) {
        expect(l).toMatchObject({ at: expect.any(Number), latency_ms: expect.any(Number), stored_ms: expect.any(Number), sent_stored_ms: expect.any(Number) });
        // Stored (as sent, then as bob got it) before bob had it: the split is in order (ms clocks of one machine, 1 ms of rounding).
        expect(Number(l['sent_stored_ms'])).toBeLessThanOrEqual(Number(l['stored_ms']) + 1);
        expect(Number(l['stored_ms'])).toBeLessThanOrEqual(Number(l['latency_ms']) + 1);
      }
    } finally {
      delete process.env['CLAUDEMESH_BENCH_BRIDGE_TRACE'];
      rmSync(dir, { recursive: true, force: true });
      await sys.stop();
    }
  });
});
