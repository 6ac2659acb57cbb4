import type { InboundMessage, MeshClient } from '@claudemesh/core';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANG_MS, addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';

const TOKEN = 'metrics-token-0123456789abcdef';

/** The value of one sample line (`name{labels} value`) of an exposition, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Polls an async predicate until it holds; the deadline only detects a hang. */
async function until(predicate: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function scrape(tb: TestBroker, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${tb.url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** Prometheus `GET /metrics` (docs/self-hosting.md "Metrics"). */
describe('metrics on embedded', () => {
  describe('loopback mode (no token)', () => {
    let tb: TestBroker;
    let mesh: TestMesh;
    const clients: MeshClient[] = [];

    beforeAll(async () => {
      tb = await startTestBroker('embedded');
      mesh = await createTestMesh(tb, 'metrics');
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await tb?.close();
    });

    it('answers a loopback client with the exposition format and every series, with help text', async () => {
      const text = await scrape(tb);
      for (const name of [
        'claudemesh_ws_connections',
        'claudemesh_frames_total',
        'claudemesh_errors_total',
        'claudemesh_messages_total',
        'claudemesh_topic_commit_batch_size',
        'claudemesh_topic_commit_seconds',
        'claudemesh_sse_streams',
        'claudemesh_offline_queue_depth',
        'nodejs_eventloop_lag_seconds',
        'process_cpu_user_seconds_total',
      ]) {
        expect(text, name).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
        expect(text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
      }
      expect(sample(text, 'claudemesh_frames_total{direction="in",type="send"}')).toBe(0);
      expect(sample(text, 'claudemesh_errors_total{code="E_RATE_LIMITED"}')).toBe(0);
    });

    it('moves the counters and the connections gauge with real traffic', async () => {
      const before = await scrape(tb);
      const alice = await addMember(tb, mesh, 'alice');
      const bob = await addMember(tb, mesh, 'bob');
      const inbox: InboundMessage[] = [];
      const a = await connectClient(tb, mesh, alice);
      clients.push(a);
      const b = await connectClient(tb, mesh, bob, {}, inbox);
      clients.push(b);

      const ack = await a.send('bob', 'counted, never labelled');
      await waitFor(() => inbox.some((m) => m.messageId === ack.message_id), 'bob to receive the DM');
      b.markRead([ack.message_id]);
      await a.topicSend('general', 'a topic post');
      // A refusal by the broker: an error frame, counted by its code.
      await expect(a.topicSend('no-such-topic', 'refused')).rejects.toMatchObject({ code: expect.stringMatching(/^E_/) });

      // The read confirmation is committed in the background: scrape until it is counted.
      let after = '';
      await until(async () => {
        after = await scrape(tb);
        return (sample(after, 'claudemesh_messages_total{kind="read"}') ?? 0) > (sample(before, 'claudemesh_messages_total{kind="read"}') ?? 0);
      }, 'the read confirmation to be counted');

      const delta = (series: string): number => (sample(after, series) ?? 0) - (sample(before, series) ?? 0);
      expect(sample(after, 'claudemesh_ws_connections')).toBe(2);
      expect(delta('claudemesh_frames_total{direction="in",type="hello"}')).toBe(2);
      expect(delta('claudemesh_frames_total{direction="in",type="send"}')).toBe(1);
      expect(delta('claudemesh_frames_total{direction="in",type="topic_send"}')).toBe(2);
      expect(delta('claudemesh_frames_total{direction="out",type="challenge"}')).toBe(2);
      expect(delta('claudemesh_frames_total{direction="out",type="ack"}')).toBe(1);
      expect(delta('claudemesh_frames_total{direction="out",type="push"}')).toBe(1);
      expect(delta('claudemesh_frames_total{direction="out",type="topic_ack"}')).toBe(1);
      expect(delta('claudemesh_frames_total{direction="out",type="error"}')).toBeGreaterThanOrEqual(1);
      expect(delta('claudemesh_messages_total{kind="accepted"}')).toBe(1);
      expect(delta('claudemesh_messages_total{kind="read"}')).toBe(1);
      expect(delta('claudemesh_topic_commit_batch_size_sum')).toBe(1);
      expect(delta('claudemesh_topic_commit_seconds_count')).toBe(1);
      // The refused DM's error frame, counted by its code; no label names a mesh, member or id.
      const errorLines = after.split('\n').filter((l) => l.startsWith('claudemesh_errors_total{') && !l.endsWith(' 0'));
      expect(errorLines.length).toBeGreaterThan(0);
      for (const id of [mesh.meshId, alice.publicKey, bob.publicKey, 'alice', 'bob']) expect(after).not.toContain(`"${id}"`);

      await a.close();
      await until(async () => sample(await scrape(tb), 'claudemesh_ws_connections') === 1, 'the connections gauge to drop');
    });

    it('counts REST errors by code', async () => {
      const before = sample(await scrape(tb), 'claudemesh_errors_total{code="E_NOT_FOUND"}') ?? 0;
      expect((await fetch(`${tb.url}/api/v1/no-such-route`)).status).toBe(404);
      expect(sample(await scrape(tb), 'claudemesh_errors_total{code="E_NOT_FOUND"}')).toBe(before + 1);
    });

    it('refuses a request that came through a proxy, even from loopback, with 403', async () => {
      const res = await fetch(`${tb.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('E_FORBIDDEN');
    });

    it('is not in the OpenAPI document', async () => {
      const doc = (await (await fetch(`${tb.url}/api/openapi.json`)).json()) as { paths?: Record<string, unknown> };
      expect(Object.keys(doc.paths ?? {})).not.toContain('/metrics');
    });
  });

  describe('token mode', () => {
    let tb: TestBroker;
    beforeAll(async () => {
      tb = await startTestBroker('embedded', { CLAUDEMESH_METRICS_TOKEN: TOKEN });
    });
    afterAll(async () => tb?.close());

    it('refuses a missing or wrong token with 401 and answers the right one', async () => {
      const missing = await fetch(`${tb.url}/metrics`);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('E_UNAUTHORIZED');
      for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, TOKEN, 'Bearer ', `Basic ${TOKEN}`]) {
        expect((await fetch(`${tb.url}/metrics`, { headers: { authorization } })).status, authorization).toBe(401);
      }
      const text = await scrape(tb, { authorization: `Bearer ${TOKEN}` });
      expect(text).toMatch(/^# TYPE claudemesh_frames_total counter$/m);
      // With a token, a proxied request is fine: the token is the credential.
      expect((await fetch(`${tb.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}`, 'x-forwarded-for': '203.0.113.7' } })).status).toBe(200);
    });
  });

  describe('CLAUDEMESH_METRICS=off', () => {
    let tb: TestBroker;
    beforeAll(async () => {
      tb = await startTestBroker('embedded', { CLAUDEMESH_METRICS: 'off', CLAUDEMESH_METRICS_TOKEN: TOKEN });
    });
    afterAll(async () => tb?.close());

    it('answers 404, with or without the token', async () => {
      expect((await fetch(`${tb.url}/metrics`)).status).toBe(404);
      const res = await fetch(`${tb.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('E_NOT_FOUND');
    });
  });
});

describe('the Grafana dashboard', () => {
  it('is valid JSON whose panels query series the broker exports', () => {
    const path = fileURLToPath(new URL('../../../docs/grafana/claudemesh.json', import.meta.url));
    const dashboard = JSON.parse(readFileSync(path, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(7);
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const name of ['claudemesh_ws_connections', 'claudemesh_frames_total', 'claudemesh_errors_total', 'claudemesh_messages_total', 'claudemesh_topic_commit_seconds_bucket', 'claudemesh_sse_streams', 'nodejs_eventloop_lag']) {
      expect(exprs, name).toContain(name);
    }
  });
});
