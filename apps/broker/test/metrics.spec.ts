import type { InboundMessage, MeshClient } from '@claudemesh/core';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DataSource } from 'typeorm';
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
        'claudemesh_refusals_total',
        'claudemesh_handoff_seconds',
        'claudemesh_mesh_sessions',
        'claudemesh_db_pool_connections',
        'claudemesh_db_pool_waiting',
        'claudemesh_db_pool_acquire_seconds',
        'claudemesh_db_pool_waits_total',
        'nodejs_eventloop_lag_seconds',
        'process_cpu_user_seconds_total',
      ]) {
        expect(text, name).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
        expect(text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
      }
      expect(sample(text, 'claudemesh_frames_total{direction="in",type="send"}')).toBe(0);
      expect(sample(text, 'claudemesh_errors_total{code="E_RATE_LIMITED"}')).toBe(0);
      for (const code of ['E_RATE_LIMITED', 'E_QUEUE_FULL', 'E_TOO_LARGE', 'E_SLOW_CONSUMER']) expect(sample(text, `claudemesh_refusals_total{code="${code}",mesh="none"}`), code).toBe(0);
      // The embedded database is one session: a pool of one connection.
      expect(sample(text, 'claudemesh_db_pool_connections{state="busy"}')! + sample(text, 'claudemesh_db_pool_connections{state="idle"}')!).toBeLessThanOrEqual(1);
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
      expect(sample(after, `claudemesh_mesh_sessions{mesh="${mesh.meshId}"}`)).toBe(2);
      expect(delta('claudemesh_db_pool_acquire_seconds_count')).toBeGreaterThan(0);
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
      // One delivery confirmed: one end-to-end handoff observed.
      expect(delta('claudemesh_handoff_seconds_count')).toBe(1);
      expect(delta('claudemesh_topic_commit_batch_size_sum')).toBe(1);
      expect(delta('claudemesh_topic_commit_seconds_count')).toBe(1);
      // The refused post's error frame, counted by its code; the only id a label carries is a mesh id
      // (claudemesh_mesh_sessions, claudemesh_refusals_total), never a member, a key or a name.
      const errorLines = after.split('\n').filter((l) => l.startsWith('claudemesh_errors_total{') && !l.endsWith(' 0'));
      expect(errorLines.length).toBeGreaterThan(0);
      for (const id of [alice.publicKey, bob.publicKey, 'alice', 'bob', 'general']) expect(after).not.toContain(`"${id}"`);
      const meshLabelled = after.split('\n').filter((l) => l.includes(mesh.meshId));
      expect(meshLabelled.every((l) => /^claudemesh_(mesh_sessions|refusals_total)\{/.test(l)), meshLabelled.join('\n')).toBe(true);

      await a.close();
      await until(async () => sample(await scrape(tb), 'claudemesh_ws_connections') === 1, 'the connections gauge to drop');
    });

    it('counts queries that waited for the pool (the embedded database has one connection)', async () => {
      const before = await scrape(tb);
      const dataSource = tb.broker.app.get(DataSource);
      // Two queries at once on a pool of one: the second waits for the first.
      await Promise.all([dataSource.query('SELECT pg_sleep(0.05)'), dataSource.query('SELECT 1')]);
      const after = await scrape(tb);
      const delta = (series: string): number => (sample(after, series) ?? 0) - (sample(before, series) ?? 0);
      expect(delta('claudemesh_db_pool_waits_total')).toBeGreaterThanOrEqual(1);
      expect(delta('claudemesh_db_pool_acquire_seconds_count')).toBeGreaterThanOrEqual(2);
      expect(sample(after, 'claudemesh_db_pool_waiting')).toBe(0);
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

  describe('refusals by code and mesh', () => {
    let tb: TestBroker;
    let mesh: TestMesh;
    const clients: MeshClient[] = [];
    beforeAll(async () => {
      // A queue of one message per recipient: the second DM to an offline member is refused.
      tb = await startTestBroker('embedded', { CLAUDEMESH_QUEUE_MAX_MESSAGES: '1' });
      mesh = await createTestMesh(tb, 'refusals');
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await tb?.close();
    });

    it('counts a WebSocket refusal under the mesh of the connection, and a refusal before any mesh under "none"', async () => {
      const alice = await addMember(tb, mesh, 'alice');
      const carol = await addMember(tb, mesh, 'carol');
      const a = await connectClient(tb, mesh, alice);
      clients.push(a);
      const before = await scrape(tb);
      await a.send('carol', 'queued for carol');
      await expect(a.send('carol', 'over the quota')).rejects.toMatchObject({ code: 'E_QUEUE_FULL' });
      // An oversized REST body is refused before anyone is authenticated.
      const big = await fetch(`${tb.url}/api/v1/topics/general/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer cmk_x' }, body: JSON.stringify({ body: 'x'.repeat(8 * 1024 * 1024) }) });
      expect(big.status).toBe(413);
      const after = await scrape(tb);
      const delta = (series: string): number => (sample(after, series) ?? 0) - (sample(before, series) ?? 0);
      expect(delta(`claudemesh_refusals_total{code="E_QUEUE_FULL",mesh="${mesh.meshId}"}`)).toBe(1);
      expect(delta('claudemesh_refusals_total{code="E_TOO_LARGE",mesh="none"}')).toBe(1);
      expect(delta('claudemesh_errors_total{code="E_QUEUE_FULL"}')).toBe(1);
      // The one DM stored waits for carol; the refused one added nothing.
      expect(delta('claudemesh_offline_queue_depth')).toBe(1);

      // Carol comes online and confirms it: the queue is back where it was.
      const inbox: InboundMessage[] = [];
      clients.push(await connectClient(tb, mesh, carol, {}, inbox));
      await waitFor(() => inbox.some((m) => m.text === 'queued for carol'), 'carol to receive the queued DM');
      await until(async () => sample(await scrape(tb), 'claudemesh_offline_queue_depth') === sample(before, 'claudemesh_offline_queue_depth'), 'the queue depth to drop');
    });
  });

  describe('the connection cap', () => {
    let tb: TestBroker;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      tb = await startTestBroker('embedded', { CLAUDEMESH_HTTP_MAX_CONNECTIONS_PER_IP: '3' });
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await tb?.close();
    });

    it('counts a connection refused at the per-address cap as a refusal with no mesh', async () => {
      const before = await scrape(tb);
      const open = () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(tb.broker.port, '127.0.0.1', () => resolve(s));
          s.on('error', reject);
          sockets.push(s);
        });
      await open();
      await open();
      // With the scrape's keep-alive connection, the cap is reached by now: this one gets a 429.
      const refused = await open();
      const answer = await new Promise<string>((resolve) => {
        let text = '';
        refused.on('data', (d: Buffer) => (text += d.toString()));
        refused.on('close', () => resolve(text));
      });
      expect(answer).toMatch(/^HTTP\/1\.1 429 /);
      for (const s of sockets.splice(0)) s.destroy();
      let after = '';
      await until(async () => {
        const res = await fetch(`${tb.url}/metrics`).catch(() => null);
        if (res?.status !== 200) return false;
        after = await res.text();
        return true;
      }, 'a scrape once the sockets closed');
      const delta = (series: string): number => (sample(after, series) ?? 0) - (sample(before, series) ?? 0);
      // At least the refusal seen above (a scrape retried while sockets were closing may add its own).
      const refusals = delta('claudemesh_refusals_total{code="E_RATE_LIMITED",mesh="none"}');
      expect(refusals).toBeGreaterThanOrEqual(1);
      expect(delta('claudemesh_errors_total{code="E_RATE_LIMITED"}')).toBe(refusals);
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
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(13);
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const name of ['claudemesh_ws_connections', 'claudemesh_frames_total', 'claudemesh_errors_total', 'claudemesh_messages_total', 'claudemesh_topic_commit_seconds_bucket', 'claudemesh_sse_streams', 'nodejs_eventloop_lag', 'claudemesh_refusals_total', 'claudemesh_mesh_sessions', 'claudemesh_db_pool_connections', 'claudemesh_db_pool_acquire_seconds_bucket', 'claudemesh_handoff_seconds_bucket']) {
      expect(exprs, name).toContain(name);
    }
  });
});
