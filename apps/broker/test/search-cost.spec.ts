import type { InboundMessage, TopicMessage } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds, pgAvailable } from '../../../test/helpers/db.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { api, issueKey, type Answer } from './bearer-api.js';

/** Writes `count` messages to #general straight into the table (the trigger fills body_tsv): a long history, quickly. */
async function bulkHistory(tb: TestBroker, mesh: TestMesh, sender: Identity, count: number, body: (n: number) => string, tag: string): Promise<void> {
  const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
  const ds = tb.broker.app.get(DataSource);
  const [general] = (await ds.query(`SELECT id FROM topics WHERE mesh_id = $1 AND name = 'general'`, [mesh.meshId])) as Array<{ id: string }>;
  const bodies = Array.from({ length: count }, (_, i) => body(i));
  await ds.query(
    `INSERT INTO topic_messages (topic_id, mesh_id, sender_member_id, client_id, body)
     SELECT $1, $2, $3, $4 || '-' || b.n, b.body FROM unnest($5::text[]) WITH ORDINALITY AS b(body, n)`,
    [general!.id, mesh.meshId, state.byPubkey.get(sender.publicKey)!.id, tag, bodies],
  );
}

const search = (tb: TestBroker, key: string, q: string, limit = 20): Promise<Answer<TopicMessage[]>> => api<TopicMessage[]>(tb, key, 'GET', `/search?q=${encodeURIComponent(q)}&limit=${limit}`);

/** Search on a long history (docs/topics.md §Search): bounded cost, same answers, and the broker keeps serving. */
describe.each(dbKinds())('search under load on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  let keys: string[];
  const HISTORY = 20_000;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'search-load');
    alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    await bulkHistory(tb, mesh, alice, HISTORY, (n) => `deploy notes for release ${n} ${'lorem ipsum dolor '.repeat(1 + (n % 7))}`, 'bulk');
    keys = [];
    for (let i = 0; i < 4; i++) keys.push((await issueKey(tb, mesh, mesh.owner, { label: `searcher ${i}`, capabilities: ['read'] })).secret);
  }, 180_000);
  afterAll(async () => tb?.close());

  it('answers a narrow query exactly as ranking every match would', async () => {
    // 'release 1234' matches one row in 20 000, fewer than the ranked candidates: ranking every match is the reference.
    const reference = (await tb.broker.app.get(DataSource).query(
      `SELECT m.id FROM topic_messages m WHERE m.mesh_id = $1 AND to_tsvector('simple', coalesce(m.body, '')) @@ websearch_to_tsquery('simple', $2)
       ORDER BY ts_rank(to_tsvector('simple', coalesce(m.body, '')), websearch_to_tsquery('simple', $2)) DESC, m.id DESC LIMIT 20`,
      [mesh.meshId, 'release 1234'],
    )) as Array<{ id: string }>;
    const hits = await search(tb, keys[0]!, 'release 1234');
    expect(hits.status).toBe(200);
    expect(reference.length).toBeGreaterThan(0);
    expect(hits.body.map((m) => m.id)).toEqual(reference.map((r) => String(r.id)));
    expect(hits.body.every((m) => /\brelease\b/.test(m.text!) && /\b1234\b/.test(m.text!))).toBe(true);
  });

  it('completes a hello, a DM and a topic post while broad searches over the whole history keep running', async () => {
    let stop = false;
    const answers: number[] = [];
    const results: number[] = [];
    const searchers = keys.map(async (key) => {
      while (!stop) {
        const a = await search(tb, key, 'deploy notes');
        answers.push(a.status);
        if (a.status === 200) results.push(a.body.length);
      }
    });
    try {
      await waitFor(() => results.length >= 2, 'searches to be running', 60_000);
      const inbox: InboundMessage[] = [];
      const receiver = await connectClient(tb, mesh, bob, {}, inbox);
      const sender = await connectClient(tb, mesh, alice);
      try {
        await sender.send('bob', 'sent during the searches');
        await waitFor(() => inbox.length === 1, 'the DM during the searches', 60_000);
      } finally {
        receiver.close();
        sender.close();
      }
      expect(inbox[0]!.text).toBe('sent during the searches');
      const poster = await issueKey(tb, mesh, alice, { label: 'poster', capabilities: ['send'] });
      const posted = await api<{ message: TopicMessage }>(tb, poster.secret, 'POST', '/topics/general/messages', { text: 'posted during the searches' });
      expect(posted.status).toBe(201);
    } finally {
      stop = true;
      await Promise.all(searchers);
    }
    expect(new Set(answers)).toEqual(new Set([200]));
    expect(new Set(results)).toEqual(new Set([20]));
  }, 180_000);
});

/** The limits themselves, small enough to reach (docs/topics.md §Search). */
describe.each(dbKinds())('search limits on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;

  beforeAll(async () => {
    tb = await startTestBroker(kind, { CLAUDEMESH_SEARCH_CANDIDATES: '20', CLAUDEMESH_SEARCH_BURST: '3', CLAUDEMESH_SEARCH_PER_MINUTE: '1' });
    mesh = await createTestMesh(tb, 'search-limits');
    alice = await addMember(tb, mesh, 'alice');
  });
  afterAll(async () => tb?.close());

  it('ranks only the newest CLAUDEMESH_SEARCH_CANDIDATES matches', async () => {
    // Older messages repeat the word (they would rank first); the newest 20 say it once.
    await bulkHistory(tb, mesh, alice, 10, () => 'alpha alpha alpha alpha alpha', 'old');
    await bulkHistory(tb, mesh, alice, 30, (n) => `alpha and something else ${n}`, 'new');
    const key = (await issueKey(tb, mesh, alice, { label: 'ranker', capabilities: ['read'] })).secret;
    const hits = await search(tb, key, 'alpha', 10);
    expect(hits.status).toBe(200);
    expect(hits.body).toHaveLength(10);
    const newest20 = ((await tb.broker.app.get(DataSource).query(`SELECT id FROM topic_messages WHERE mesh_id = $1 ORDER BY id DESC LIMIT 20`, [mesh.meshId])) as Array<{ id: string }>).map((r) => String(r.id));
    expect(hits.body.every((m) => newest20.includes(m.id))).toBe(true);
    expect(hits.body.some((m) => m.text === 'alpha alpha alpha alpha alpha')).toBe(false);
  });

  it.runIf(kind === 'embedded')(`keeps planner statistics of topic_messages on the embedded database, which has no autovacuum${kind === 'embedded' ? '' : ' (skipped: Postgres runs autovacuum)'}`, async () => {
    // reltuples is -1 until the table was first analyzed.
    const ds = tb.broker.app.get(DataSource);
    const analyzed = async (): Promise<number> => Number(((await ds.query(`SELECT reltuples FROM pg_class WHERE relname = 'topic_messages'`)) as Array<{ reltuples: number }>)[0]!.reltuples);
    const deadline = Date.now() + 15_000;
    while ((await analyzed()) < 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await analyzed()).toBeGreaterThanOrEqual(0);
  });

  it('refuses a key’s searches beyond its burst with 429 E_RATE_LIMITED, Retry-After and retry_after_ms; another key still searches', async () => {
    const key = (await issueKey(tb, mesh, alice, { label: 'eager', capabilities: ['read'] })).secret;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await search(tb, key, 'alpha')).status);
    expect(statuses).toEqual([200, 200, 200]);
    const res = await fetch(`${tb.url}/api/v1/search?q=alpha`, { headers: { authorization: `Bearer ${key}` } });
    const body = (await res.json()) as { error: { code: string; message: string; retry_after_ms: number } };
    expect(res.status).toBe(429);
    expect(body.error).toMatchObject({ code: 'E_RATE_LIMITED', message: expect.stringMatching(/3 times/) });
    expect(body.error.retry_after_ms).toBeGreaterThan(0);
    expect(body.error.retry_after_ms).toBeLessThanOrEqual(60_000);
    expect(Number(res.headers.get('retry-after'))).toBe(Math.ceil(body.error.retry_after_ms / 1000));
    const other = (await issueKey(tb, mesh, alice, { label: 'patient', capabilities: ['read'] })).secret;
    expect((await search(tb, other, 'alpha')).status).toBe(200);
  });
});

/** Postgres cancels a search that runs past its statement timeout; the embedded database cannot (docs/topics.md §Search). */
describe.runIf(pgAvailable())('search statement timeout on postgres', () => {
  let tb: TestBroker;
  let mesh: TestMesh;

  beforeAll(async () => {
    tb = await startTestBroker('postgres', { CLAUDEMESH_SEARCH_STATEMENT_TIMEOUT_MS: '1', CLAUDEMESH_SEARCH_CANDIDATES: '1000000' });
    mesh = await createTestMesh(tb, 'search-timeout');
    await bulkHistory(tb, mesh, mesh.owner, 50_000, (n) => `deploy notes for release ${n} ${'lorem ipsum dolor '.repeat(1 + (n % 7))}`, 'bulk');
  }, 180_000);
  afterAll(async () => tb?.close());

  it('answers 503 E_UNAVAILABLE for a search the database stopped, and keeps serving', async () => {
    const key = (await issueKey(tb, mesh, mesh.owner, { label: 'broad', capabilities: ['read'] })).secret;
    const hits = await search(tb, key, 'deploy notes');
    expect(hits).toMatchObject({ status: 503, body: { error: { code: 'E_UNAVAILABLE', message: expect.stringMatching(/ran past 1 ms/) } } });
    expect((await api(tb, key, 'GET', '/me')).status).toBe(200);
  });
});
