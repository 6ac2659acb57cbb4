import { meshAnalytics, signedRequest, type MeshAnalytics, type MeshClient, type Receipt } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalyticsRecorder } from '../src/analytics/analytics.recorder.js';
import { HANG_MS, addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { api, cell, issueKey } from './bearer-api.js';

const ROLLUP_TABLES = ['mesh_stats_hourly', 'mesh_handoff_hourly', 'mesh_topic_stats_hourly', 'member_uptime_hourly'];
const DIRECT = 5;
const SECRET = 'analytics-plaintext-canary';

/**
 * A known workload — 5 DMs alice → bob, each delivered and acknowledged; 4 posts to #ops and 2 to
 * #general; bob connected throughout, carol never — and the analytics must count exactly that.
 * The flush interval is an hour: only the GET (which flushes this node first) writes the rollups.
 */
describe.each(dbKinds())('mesh analytics on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  let carol: Identity;
  let dave: Identity;
  let a: MeshClient;
  let b: MeshClient;
  let ownerKey: string;
  const receipts: Receipt[] = [];
  const path = () => `/api/v1/meshes/${mesh.meshId}/analytics`;
  const asOwner = (query = '?window=24h') => signedRequest<MeshAnalytics>(tb.url, mesh.owner, mesh.meshId, 'GET', `${path()}${query}`);

  beforeAll(async () => {
    tb = await startTestBroker(kind, { CLAUDEMESH_ANALYTICS_FLUSH_MS: '3600000' });
    mesh = await createTestMesh(tb, 'stats');
    alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    carol = await addMember(tb, mesh, 'carol');
    dave = await addMember(tb, mesh, 'dave', 'admin');
    b = await connectClient(tb, mesh, bob);
    a = await connectClient(tb, mesh, alice);
    a.on('receipt', (r) => receipts.push(r));
    ownerKey = (await issueKey(tb, mesh, mesh.owner, { label: 'stats', capabilities: ['read', 'send', 'admin'] })).secret;

    const acks: Array<{ message_id: string }> = [];
    for (let i = 0; i < DIRECT; i++) acks.push(await a.send('bob', `${SECRET} dm ${i}`));
    await waitFor(() => acks.every((ack) => receipts.some((r) => r.message_id === ack.message_id && r.state === 'delivered')), 'every DM delivered');
    expect(cell(await api(tb, ownerKey, 'POST', '/topics', { name: 'ops', encryption: 'plaintext' }))).toBe('201');
    for (let i = 0; i < 4; i++) expect(cell(await api(tb, ownerKey, 'POST', '/topics/ops/messages', { text: `${SECRET} ops ${i}` }))).toBe('201');
    for (let i = 0; i < 2; i++) expect(cell(await api(tb, ownerKey, 'POST', '/topics/general/messages', { text: `${SECRET} general ${i}` }))).toBe('201');
    // Whole seconds are stored: wait (by polling the answer, not a clock) until bob has one.
    const hang = Date.now() + HANG_MS;
    while (((await asOwner()).uptime.find((u) => u.member_pubkey === bob.publicKey)?.seconds_online ?? 0) < 1) {
      if (Date.now() > hang) throw new Error('hang: bob never reached a second online');
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await tb?.close();
  });

  it('counts the workload exactly: messages, topic posts, deliveries, handoffs and the busiest topics in order', async () => {
    const got = await asOwner();
    expect(got.window).toBe('24h');
    expect(got.bucket).toBe('hour');
    expect(got.collecting).toBe(true);
    expect(got.retention_days).toBe(90);
    expect(got.series).toHaveLength(24);
    expect(got.totals).toMatchObject({ messages: DIRECT, topic_posts: 6, delivered: DIRECT });
    expect(got.totals.bytes).toBeGreaterThan(0);
    expect(got.series.reduce((n, p) => n + p.messages, 0)).toBe(DIRECT);
    expect(got.series.reduce((n, p) => n + p.topic_posts, 0)).toBe(6);
    expect(got.series.reduce((n, p) => n + p.delivered, 0)).toBe(DIRECT);
    expect(got.handoff.count).toBe(DIRECT);
    expect(got.handoff.histogram.reduce((n, h) => n + h.count, 0)).toBe(DIRECT);
    expect(got.handoff.p50_ms).not.toBeNull();
    expect(got.handoff.p50_ms!).toBeLessThanOrEqual(got.handoff.p90_ms!);
    expect(got.handoff.p90_ms!).toBeLessThanOrEqual(got.handoff.p99_ms!);
    expect(got.busiest_topics).toEqual([{ name: 'ops', posts: 4 }, { name: 'general', posts: 2 }]);
  });

  it('reports uptime: the connected member has seconds and is online, the never-connected one has none', async () => {
    const got = await asOwner();
    const of = (id: Identity) => got.uptime.find((u) => u.member_pubkey === id.publicKey)!;
    expect(of(bob).seconds_online).toBeGreaterThanOrEqual(1);
    expect(of(bob).percent).toBeGreaterThan(0);
    expect(of(bob).online).toBe(true);
    expect(of(carol)).toMatchObject({ display_name: 'carol', seconds_online: 0, percent: 0, online: false });
  });

  it('answers a 7-day window in days, and a re-read adds nothing (a flush is not counted twice)', async () => {
    const week = await asOwner('?window=7d');
    expect(week.bucket).toBe('day');
    expect(week.series).toHaveLength(7);
    expect(week.totals).toMatchObject({ messages: DIRECT, topic_posts: 6, delivered: DIRECT });
    const hourly = await asOwner('?window=7d&bucket=hour');
    expect(hourly.series).toHaveLength(168);
    expect(hourly.totals.messages).toBe(DIRECT);
  });

  it('lets an admin read them and refuses a plain member with E_FORBIDDEN; an unknown mesh is 404', async () => {
    expect((await meshAnalytics(tb.url, dave, mesh.meshId)).totals.messages).toBe(DIRECT);
    await expect(meshAnalytics(tb.url, alice, mesh.meshId)).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    const other = randomUUID();
    const res = await signedRequest(tb.url, mesh.owner, other, 'GET', `/api/v1/meshes/${other}/analytics`).catch((e: { code: string; status?: number }) => e);
    expect(res).toMatchObject({ code: 'E_UNKNOWN_MESH' });
    await expect(signedRequest(tb.url, mesh.owner, mesh.meshId, 'GET', `${path()}?window=1y`)).rejects.toMatchObject({ code: 'E_SCHEMA' });
  });

  it('answers the same numbers to an owner’s admin key, and refuses a topic-scoped admin key', async () => {
    const viaKey = await api<MeshAnalytics>(tb, ownerKey, 'GET', '/analytics');
    expect(viaKey.status).toBe(200);
    expect(viaKey.body.totals).toMatchObject({ messages: DIRECT, topic_posts: 6, delivered: DIRECT });
    expect(viaKey.body.busiest_topics).toEqual([{ name: 'ops', posts: 4 }, { name: 'general', posts: 2 }]);
    const scoped = (await issueKey(tb, mesh, mesh.owner, { capabilities: ['read', 'admin'], topics: ['general'] })).secret;
    expect(cell(await api(tb, scoped, 'GET', '/analytics'))).toBe('403 E_FORBIDDEN');
    const members = (await issueKey(tb, mesh, dave, { capabilities: ['admin'] })).secret;
    expect(cell(await api(tb, members, 'GET', '/analytics?window=30d'))).toBe('200');
  });

  it('observes claudemesh_handoff_seconds once per delivery', async () => {
    const text = await (await fetch(`${tb.url}/metrics`)).text();
    const count = Number(/^claudemesh_handoff_seconds_count (\d+)/m.exec(text)?.[1]);
    expect(count).toBe(DIRECT);
  });

  it('stores metadata only: the rollup tables have no text or binary column, and hold none of the plaintext', async () => {
    const ds = tb.broker.app.get(DataSource);
    const columns = (await ds.query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name = ANY($1) ORDER BY table_name, ordinal_position`,
      [ROLLUP_TABLES],
    )) as Array<{ table_name: string; column_name: string; data_type: string }>;
    expect(new Set(columns.map((c) => c.table_name))).toEqual(new Set(ROLLUP_TABLES));
    for (const c of columns) expect(['uuid', 'timestamp with time zone', 'integer', 'bigint', 'smallint'], `${c.table_name}.${c.column_name}`).toContain(c.data_type);
    for (const table of ROLLUP_TABLES) {
      const dump = JSON.stringify(await ds.query(`SELECT * FROM ${table}`));
      expect(dump).not.toContain(SECRET);
      expect(dump).not.toContain('ops');
    }
  });

  it('prunes rollup hours older than the retention and keeps the recent ones', async () => {
    const ds = tb.broker.app.get(DataSource);
    const old = new Date(Date.now() - 100 * 86_400_000).toISOString();
    await ds.query('INSERT INTO mesh_stats_hourly (mesh_id, hour, messages) VALUES ($1, $2, 7)', [mesh.meshId, old]);
    await ds.query('INSERT INTO mesh_handoff_hourly (mesh_id, hour, bucket, deliveries) VALUES ($1, $2, 3, 7)', [mesh.meshId, old]);
    await ds.query('INSERT INTO mesh_topic_stats_hourly (mesh_id, topic_id, hour, posts) VALUES ($1, 1, $2, 7)', [mesh.meshId, old]);
    await ds.query('INSERT INTO member_uptime_hourly (mesh_id, member_id, hour, seconds_online) VALUES ($1, 1, $2, 7)', [mesh.meshId, old]);
    const count = async (where: string) => {
      let n = 0;
      for (const table of ROLLUP_TABLES) n += ((await ds.query(`SELECT count(*)::int AS n FROM ${table} WHERE mesh_id = $1 AND hour ${where} $2`, [mesh.meshId, old])) as Array<{ n: number }>)[0]!.n;
      return n;
    };
    expect(await count('=')).toBe(4);
    const recent = await count('>');
    expect(await tb.broker.app.get(AnalyticsRecorder).prune()).toBe(4);
    expect(await count('=')).toBe(0);
    expect(await count('>')).toBe(recent);
    expect((await asOwner('?window=30d')).totals.messages).toBe(DIRECT);
  });
});

describe('mesh analytics turned off (CLAUDEMESH_ANALYTICS_RETENTION_DAYS=0)', () => {
  it('records nothing and says so', async () => {
    const tb = await startTestBroker('embedded', { CLAUDEMESH_ANALYTICS_RETENTION_DAYS: '0' });
    try {
      const mesh = await createTestMesh(tb, 'quiet');
      const key = (await issueKey(tb, mesh, mesh.owner, { capabilities: ['read', 'send', 'admin'] })).secret;
      expect(cell(await api(tb, key, 'POST', '/topics/general/messages', { text: 'hello' }))).toBe('201');
      const got = await meshAnalytics(tb.url, mesh.owner, mesh.meshId);
      expect(got).toMatchObject({ collecting: false, retention_days: 0, totals: { messages: 0, topic_posts: 0, delivered: 0, bytes: 0 } });
      const rowsNow = (await tb.broker.app.get(DataSource).query('SELECT count(*)::int AS n FROM mesh_stats_hourly')) as Array<{ n: number }>;
      expect(rowsNow[0]!.n).toBe(0);
    } finally {
      await tb.close();
    }
  });
});
