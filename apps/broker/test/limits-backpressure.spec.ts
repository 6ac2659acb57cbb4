/**
 * Bounds on the send path (docs/protocol.md §1.2, §7.2, §7.6): one connection has at most N frames
 * being handled at once (beyond that the broker stops reading its socket rather than queueing), and
 * one group commit carries at most so many ciphertext bytes. Observed in the database: rows of one
 * commit share its transaction timestamp (`messages.created_at` = now(), in microseconds).
 */
import type { Identity } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { helloPeer } from './hello-frames.js';

const MAX_IN_FLIGHT = 2;
const BATCH_BYTES = 32 * 1024;

/** base64url of `bytes` zero bytes (canonical: no trailing bits set). */
const zeros = (bytes: number) => 'A'.repeat(Math.ceil((bytes * 4) / 3));

interface Commit {
  messages: number;
  bytes: number;
}

describe.each(dbKinds())('bounds on the send path on %s', (kind) => {
  const brokers: TestBroker[] = [];
  const peers: RawPeer[] = [];

  /** A broker with these limits, a mesh, offline bob and three senders. */
  async function setUp(env: Record<string, string>): Promise<{ tb: TestBroker; mesh: TestMesh; senders: Identity[] }> {
    const tb = await startTestBroker(kind, env);
    brokers.push(tb);
    const mesh = await createTestMesh(tb);
    await addMember(tb, mesh, 'bob');
    const senders: Identity[] = [];
    for (const name of ['alice', 'carol', 'dave']) senders.push(await addMember(tb, mesh, name));
    return { tb, mesh, senders };
  }

  async function authenticated(tb: TestBroker, mesh: TestMesh, identity: Identity): Promise<RawPeer> {
    const p = await helloPeer(tb.wsUrl, mesh.meshId, identity);
    peers.push(p);
    return p;
  }

  /** The commits that stored these client ids, by their transaction timestamp. */
  async function commitsOf(tb: TestBroker, clientIds: string[]): Promise<Commit[]> {
    return (await tb.broker.app.get(DataSource).query(
      `SELECT count(*)::int AS messages, sum(octet_length(ciphertext))::int AS bytes FROM messages WHERE client_id = ANY($1::text[]) GROUP BY created_at`,
      [clientIds],
    )) as Commit[];
  }

  /** Pipelines sends (all written at once, to offline bob) and waits for every ack. */
  async function pipeline(p: RawPeer, ids: string[], bytes: number): Promise<void> {
    for (const id of ids) p.send({ type: 'send', id, to: 'bob', nonce: zeros(24), ciphertext: zeros(bytes) });
    await waitFor(() => ids.every((id) => p.frames.some((f) => f['type'] === 'ack' && f['id'] === id)), `${ids.length} acks`, 30_000);
  }

  afterAll(async () => {
    for (const p of peers) p.close();
    for (const tb of brokers) await tb.close();
  });

  it('handles at most the in-flight bound of one connection’s pipelined sends at once: no commit carries more of them', async () => {
    const { tb, mesh, senders } = await setUp({ CLAUDEMESH_WS_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) });
    const p = await authenticated(tb, mesh, senders[0]!);
    const ids = Array.from({ length: 60 }, (_, i) => `inflight-${String(i).padStart(3, '0')}`);
    await pipeline(p, ids, 64);
    const commits = await commitsOf(tb, ids);
    expect(commits.reduce((n, c) => n + c.messages, 0)).toBe(ids.length);
    expect(Math.max(...commits.map((c) => c.messages))).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(p.frames.filter((f) => f['type'] === 'error')).toEqual([]);
  }, 60_000);

  it('caps the ciphertext bytes of one group commit, whatever the number of senders', async () => {
    const { tb, mesh, senders } = await setUp({ CLAUDEMESH_SEND_BATCH_BYTES: String(BATCH_BYTES) });
    const all: string[] = [];
    const connections = await Promise.all(senders.map((identity) => authenticated(tb, mesh, identity)));
    await Promise.all(
      connections.map(async (p, s) => {
        // Three connections pipeline 10 KiB sends: commits would take dozens of them at once.
        const ids = Array.from({ length: 30 }, (_, i) => `batchbytes-${s}-${String(i).padStart(3, '0')}`);
        all.push(...ids);
        await pipeline(p, ids, 10 * 1024);
      }),
    );
    const commits = await commitsOf(tb, all);
    expect(commits.reduce((n, c) => n + c.messages, 0)).toBe(all.length);
    expect(commits.length).toBeGreaterThan(all.length / 4);
    for (const c of commits) expect(c.messages === 1 || c.bytes <= BATCH_BYTES, `a commit of ${c.messages} messages, ${c.bytes} bytes`).toBe(true);
  }, 60_000);
});
