import { describe, expect, it } from 'vitest';
import { BrokerMetrics, MESH_LABEL_LIMIT } from './broker-metrics.js';

const meshId = (i: number): string => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
const lines = (text: string, prefix: string): string[] => text.split('\n').filter((l) => l.startsWith(prefix));

describe('BrokerMetrics per-mesh series', () => {
  it(`gives at most ${MESH_LABEL_LIMIT} meshes a refusal label of their own; the rest count as "other"`, async () => {
    const metrics = new BrokerMetrics({ enabled: true });
    for (let i = 0; i < MESH_LABEL_LIMIT + 5; i++) metrics.refusal('E_RATE_LIMITED', meshId(i));
    metrics.refusal('E_RATE_LIMITED', meshId(0));
    metrics.refusal('E_QUEUE_FULL', meshId(MESH_LABEL_LIMIT + 3));
    const text = await metrics.registry.metrics();
    const limited = lines(text, 'claudemesh_refusals_total{code="E_RATE_LIMITED"');
    // One line per labelled mesh, "other", and "none" (exported at 0 from the start).
    expect(limited).toHaveLength(MESH_LABEL_LIMIT + 2);
    expect(limited).toContain(`claudemesh_refusals_total{code="E_RATE_LIMITED",mesh="${meshId(0)}"} 2`);
    expect(limited).toContain('claudemesh_refusals_total{code="E_RATE_LIMITED",mesh="other"} 5');
    expect(limited).toContain('claudemesh_refusals_total{code="E_RATE_LIMITED",mesh="none"} 0');
    expect(text).toContain('claudemesh_refusals_total{code="E_QUEUE_FULL",mesh="other"} 1');
  });

  it('counts an error frame with a refusal code as a refusal of its connection\'s mesh, and other codes only as errors', async () => {
    const metrics = new BrokerMetrics({ enabled: true });
    const meter = metrics.meterFor(() => meshId(7));
    meter.frameOut('{"type":"error","code":"E_RATE_LIMITED","message":"slow down","retry_after_ms":5}');
    meter.frameOut('{"type":"error","code":"E_FORBIDDEN","message":"no"}');
    const text = await metrics.registry.metrics();
    expect(text).toContain(`claudemesh_refusals_total{code="E_RATE_LIMITED",mesh="${meshId(7)}"} 1`);
    expect(text).toContain('claudemesh_errors_total{code="E_FORBIDDEN"} 1');
    expect(lines(text, 'claudemesh_refusals_total{').filter((l) => !l.endsWith(' 0'))).toHaveLength(1);
  });

  it('sums sessions past the label limit as "other", largest meshes first', async () => {
    const metrics = new BrokerMetrics({ enabled: true });
    const counts = new Map<string, number>();
    for (let i = 0; i < MESH_LABEL_LIMIT + 3; i++) counts.set(meshId(i), i < 3 ? 1 : 10);
    metrics.sessionsBy(() => counts);
    const text = await metrics.registry.metrics();
    const sessions = lines(text, 'claudemesh_mesh_sessions{');
    expect(sessions).toHaveLength(MESH_LABEL_LIMIT + 1);
    expect(sessions).toContain('claudemesh_mesh_sessions{mesh="other"} 3');
    expect(sessions).toContain(`claudemesh_mesh_sessions{mesh="${meshId(3)}"} 10`);
  });

  it('reads a gauge with a maximum age once while it is fresh, and again after a failed read', async () => {
    const metrics = new BrokerMetrics({ enabled: true });
    let reads = 0;
    let fail = true;
    metrics.source('offline_queue_depth', () => (++reads, fail ? Number.NaN : 7), { maxAgeMs: 60_000 });
    expect(await metrics.registry.metrics()).toMatch(/^claudemesh_offline_queue_depth nan$/im);
    fail = false;
    // A NaN (the database did not answer) is not kept: the next scrape reads again.
    expect(await metrics.registry.metrics()).toContain('claudemesh_offline_queue_depth 7');
    await Promise.all([metrics.registry.metrics(), metrics.registry.metrics()]);
    expect(reads).toBe(2);
  });

  it('registers nothing and accepts every call when off', async () => {
    const metrics = new BrokerMetrics({ enabled: false });
    metrics.refusal('E_QUEUE_FULL', meshId(1));
    metrics.error('E_RATE_LIMITED', meshId(1));
    metrics.meterFor(() => undefined).frameOut('{"type":"error","code":"E_TOO_LARGE"}');
    metrics.sessionsBy(() => new Map([[meshId(1), 1]]));
    metrics.watchPool({ connect: () => undefined, totalCount: 0, idleCount: 0, waitingCount: 0 });
    expect(await metrics.registry.metrics()).toBe('\n');
  });
});
