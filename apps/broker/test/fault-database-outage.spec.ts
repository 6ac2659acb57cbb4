/**
 * Fault test: the broker's Postgres database becomes unreachable for a few seconds while peers are
 * connected and traffic is in flight. New connections to the database are refused
 * (ALLOW_CONNECTIONS false) and every backend of it is terminated, repeatedly, for the whole
 * window; then connections are allowed again. Nothing is restarted: the broker must recover by
 * itself. Real Postgres, real broker, real WebSockets, real SDK and crypto.
 */
import { ProtocolError, type Ack, type InboundMessage, type MeshClient, type Receipt } from '@claudemesh/core';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HANG_MS, addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { pgAvailable } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { buildHello } from './hello-frames.js';

const OUTAGE_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Keeps one database unreachable until `end()`: no new connections, existing backends terminated every 100 ms. */
class DatabaseOutage {
  /** Backends terminated by the first sweep (the broker's pooled connections). */
  firstSweep = 0;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  private constructor(
    private readonly admin: pg.Client,
    private readonly db: string,
  ) {}

  static async begin(db: string): Promise<DatabaseOutage> {
    const admin = new pg.Client({ connectionString: process.env.CLAUDEMESH_TEST_PG_URL, connectionTimeoutMillis: 5_000 });
    admin.on('error', () => undefined);
    await admin.connect();
    await admin.query(`ALTER DATABASE "${db}" WITH ALLOW_CONNECTIONS false`);
    const outage = new DatabaseOutage(admin, db);
    outage.firstSweep = await outage.terminate();
    outage.loop = (async () => {
      while (!outage.stopped) {
        await sleep(100);
        await outage.terminate();
      }
    })();
    return outage;
  }

  private async terminate(): Promise<number> {
    const { rows } = await this.admin.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [this.db],
    );
    return rows[0]?.n ?? 0;
  }

  async end(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.loop;
    await this.admin.query(`ALTER DATABASE "${this.db}" WITH ALLOW_CONNECTIONS true`);
    await this.admin.end();
  }
}

async function readyz(tb: TestBroker): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${tb.url}/readyz`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A syntactically valid DM frame; the broker never opens ciphertext, so random bytes will do. */
function opaqueSend(id: string, to: string) {
  return { type: 'send', id, to, nonce: randomBytes(24).toString('base64url'), ciphertext: randomBytes(48).toString('base64url') };
}

describe.skipIf(!pgAvailable())('Postgres unavailable for a few seconds', () => {
  let tb: TestBroker;
  let dbName: string;
  const clients: MeshClient[] = [];
  const raws: RawPeer[] = [];
  let outage: DatabaseOutage | undefined;

  beforeAll(async () => {
    tb = await startTestBroker('postgres');
    dbName = decodeURIComponent(new URL(tb.databaseUrl!).pathname.slice(1));
  });

  // A failed assertion must not leave the database shut for the next test.
  afterEach(async () => {
    await outage?.end();
    outage = undefined;
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    for (const r of raws) r.close();
    await tb?.close();
  });

  async function begin(): Promise<DatabaseOutage> {
    outage = await DatabaseOutage.begin(dbName);
    return outage;
  }

  it('answers /readyz with 503 during the outage and 200 again afterwards, without a restart', { timeout: 20_000 }, async () => {
    // A burst of probes leaves idle connections in the pool: the outage kills them.
    const before = await Promise.all(Array.from({ length: 30 }, () => readyz(tb)));
    expect(before.map((r) => r.body)).toEqual(before.map(() => ({ ready: true })));
    const o = await begin();
    expect(o.firstSweep).toBeGreaterThan(0);

    const during: Array<{ status: number; body: Record<string, unknown> }> = [];
    const started = Date.now();
    while (Date.now() - started < OUTAGE_MS) {
      during.push(await readyz(tb));
      await sleep(200);
    }
    await o.end();

    expect(during.length).toBeGreaterThanOrEqual(5);
    for (const r of during) {
      expect(r.status).toBe(503);
      expect(r.body['ready']).toBe(false);
    }
    // Ready again by itself, and the pool kept none of its killed connections: another burst
    // wider than the pool would hit any of them.
    const recovered = Date.now();
    let last = await readyz(tb);
    while (last.status !== 200 && Date.now() - recovered < 5_000) {
      await sleep(100);
      last = await readyz(tb);
    }
    expect(last).toEqual({ status: 200, body: { ready: true } });
    const burst = await Promise.all(Array.from({ length: 30 }, () => readyz(tb)));
    expect(burst.map((r) => r.status)).toEqual(Array.from({ length: 30 }, () => 200));
  });

  it('refuses a send during the outage with E_UNAVAILABLE, stores nothing, and stores the same id once it is back', { timeout: 20_000 }, async () => {
    const mesh = await createTestMesh(tb);
    const carol = await addMember(tb, mesh, 'carol');
    await addMember(tb, mesh, 'dave');
    const peer = await RawPeer.connect(tb.wsUrl);
    raws.push(peer);
    peer.send(buildHello(mesh.meshId, carol, peer.challenge));
    await peer.next('hello_ack');

    const o = await begin();
    const frame = opaqueSend('during-outage-1', 'dave');
    peer.send(frame);
    const refused = await peer.next('error');
    expect(refused).toMatchObject({ type: 'error', code: 'E_UNAVAILABLE', ref: 'during-outage-1' });
    // Not fatal: the connection stays, and a retry is refused the same way while the outage lasts.
    await sleep(500);
    peer.send(frame);
    expect(await peer.next('error')).toMatchObject({ code: 'E_UNAVAILABLE', ref: 'during-outage-1' });
    expect(peer.closed).toBeNull();
    expect(peer.frames.some((f) => f['type'] === 'ack')).toBe(false);
    await o.end();

    // The same bytes under the same id: stored now, and as a new message (nothing was stored before).
    let ack: Record<string, unknown> | undefined;
    const deadline = Date.now() + 5_000;
    while (!ack) {
      peer.send(frame);
      const reply = await Promise.race([peer.next('ack', 1_000).catch(() => undefined), peer.next('error', 1_000).catch(() => undefined)]);
      if (reply?.['type'] === 'ack') ack = reply;
      else if (Date.now() > deadline) throw new Error(`no ack after recovery; last reply ${JSON.stringify(reply)}`);
      else await sleep(100);
    }
    expect(ack).toMatchObject({ id: 'during-outage-1', recipients: 1, duplicate: false });
    expect(peer.closed).toBeNull();
  });

  it('delivers every acked message to bob exactly once, including sends retried through the outage', { timeout: 30_000 }, async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const inbox: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, { resendAfterMs: 500 }, inbox);
    const a = await connectClient(tb, mesh, alice, { resendAfterMs: 500 });
    clients.push(a, b);
    let disconnects = 0;
    a.on('disconnected', () => disconnects++);
    b.on('disconnected', () => disconnects++);
    await a.listPeers(); // names resolved up front: sends need no round trip during the outage

    const sentAt = new Map<string, number>();
    const acked = new Map<string, { ack: Ack; at: number }>();
    const sends: Array<Promise<void>> = [];
    let producing = true;
    const producer = (async () => {
      for (let i = 0; producing; i++) {
        const id = `outage-${String(i).padStart(6, '0')}`;
        sentAt.set(id, Date.now());
        sends.push(a.send('bob', `message ${i}`, { id }).then((ack) => void acked.set(id, { ack, at: Date.now() })));
        await sleep(15);
      }
    })();
    await waitFor(() => acked.size >= 30, 'traffic before the outage');

    const o = await begin();
    const outageStart = Date.now();
    await sleep(OUTAGE_MS);
    const outageEnd = Date.now();
    await o.end();
    await sleep(1_000);
    producing = false;
    await producer;

    // Nothing is acked as stored while the database is out (a 250 ms grace for acks already on the wire).
    const ackedDuring = [...acked.values()].filter((x) => x.at > outageStart + 250 && x.at < outageEnd);
    expect(ackedDuring).toEqual([]);
    const sentDuring = [...sentAt].filter(([, t]) => t > outageStart && t < outageEnd).map(([id]) => id);
    expect(sentDuring.length).toBeGreaterThan(50);

    // After recovery every send resolves, those made during the outage included.
    await Promise.race([Promise.all(sends), sleep(HANG_MS).then(() => Promise.reject(new Error(`${sentAt.size - acked.size} sends still unacked`)))]);
    expect(acked.size).toBe(sentAt.size);
    expect(a.unacked).toBe(0);

    await waitFor(() => inbox.length >= sentAt.size, `all ${sentAt.size} messages at bob (got ${inbox.length})`);
    await sleep(300);
    expect(inbox.length).toBe(sentAt.size);
    expect(new Set(inbox.map((m) => m.messageId)).size).toBe(inbox.length);
    const byId = new Map(inbox.map((m) => [m.clientId, m]));
    for (const [id, { ack }] of acked) {
      const m = byId.get(id);
      expect(m?.messageId, `message ${id}`).toBe(ack.message_id);
      expect(m?.text).toBe(`message ${Number(id.slice(7))}`);
    }
    // The database agrees: every message is delivered to bob, confirmations made around the
    // outage included.
    const ids = [...sentAt.keys()];
    const deadline = Date.now() + 10_000;
    for (;;) {
      const chunks = await Promise.all(Array.from({ length: Math.ceil(ids.length / 500) }, (_, i) => a.messageStatus({ clientIds: ids.slice(i * 500, (i + 1) * 500) })));
      const states = chunks.flat().map((m) => m.recipients.map((r) => r.state).join());
      if (states.length === ids.length && states.every((s) => s === 'delivered')) break;
      if (Date.now() > deadline) throw new Error(`not all delivered: ${states.filter((s) => s !== 'delivered').length} of ${ids.length}`);
      await sleep(200);
    }
    // The outage did not cost either peer its WebSocket.
    expect(disconnects).toBe(0);
  });

  it('applies a delivered confirmation sent during the outage once the database is back, with no reconnect', { timeout: 20_000 }, async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const inbox: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, { autoDelivered: false }, inbox);
    const a = await connectClient(tb, mesh, alice);
    clients.push(a, b);
    let disconnects = 0;
    b.on('disconnected', () => disconnects++);
    const receipts: Receipt[] = [];
    a.on('receipt', (r) => receipts.push(r));
    const acks = await Promise.all(Array.from({ length: 5 }, (_, i) => a.send('bob', `confirm me ${i}`)));
    await waitFor(() => inbox.length === 5, 'the five messages at bob');

    const o = await begin();
    // bob confirms while the database is out; the connection is all he has to say it with.
    b.confirmDelivered(inbox.map((m) => m.messageId));
    await sleep(1_000);
    await o.end();

    const ids = acks.map((ack) => ack.message_id);
    await waitFor(() => ids.every((id) => receipts.some((r) => r.message_id === id && r.state === 'delivered')), 'delivered receipts at alice');
    const status = await a.messageStatus({ messageIds: ids });
    expect(status.map((m) => m.recipients.map((r) => r.state))).toEqual(ids.map(() => ['delivered']));
    expect(disconnects).toBe(0);
  });

  it('closes a connection whose offline-queue drain the outage cut short, and the reconnect gets the whole queue in order', { timeout: 30_000 }, async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice, { resendAfterMs: 500 });
    clients.push(a);
    // 700 queued DMs of 16 KiB (about 15 MB): more than one drain page (500), and more than the
    // socket buffers hold, so the drain has to wait for the reader mid-way.
    const total = 700;
    const acks: Ack[] = [];
    for (let i = 0; i < total; i += 50) {
      acks.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => a.send('bob', `queued ${i + j} `.padEnd(16 * 1024, '.'))))));
    }

    // bob's connection stops reading the moment it has sent hello: the drain stalls on it.
    const peer = await RawPeer.connect(tb.wsUrl);
    raws.push(peer);
    const socket = (peer.ws as unknown as { _socket: Socket })._socket;
    peer.send(buildHello(mesh.meshId, bob, peer.challenge));
    socket.pause();
    await sleep(300);

    const o = await begin();
    socket.resume();
    // The drain reaches its next page while the database is out: bob must not be left connected
    // with a half-finished drain (and every later push held back); he is told and disconnected.
    expect(await peer.next('error')).toMatchObject({ code: 'E_UNAVAILABLE' });
    expect((await peer.waitClosed()).code).toBe(4001);
    const drained = peer.frames.filter((f) => f['type'] === 'push').map((f) => f['message_id'] as string);
    expect(drained.length).toBeGreaterThan(0);
    expect(drained.length).toBeLessThan(total);
    expect(drained).toEqual(acks.slice(0, drained.length).map((ack) => ack.message_id));
    await o.end();

    // Reconnecting after the outage, bob gets the whole queue, in order, then live traffic.
    const inbox: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, { resendAfterMs: 500 }, inbox);
    clients.push(b);
    const live = await a.send('bob', 'live after the outage');
    await waitFor(() => inbox.length >= total + 1, `the ${total} queued messages and the live one`);
    await sleep(100);
    expect(inbox.map((m) => m.messageId)).toEqual([...acks, live].map((ack) => ack.message_id));
  });

  it('refuses a hello during the outage with E_UNAVAILABLE and serves new clients after it', { timeout: 20_000 }, async () => {
    const mesh = await createTestMesh(tb);
    const erin = await addMember(tb, mesh, 'erin');
    const frank = await addMember(tb, mesh, 'frank');

    const o = await begin();
    const peer = await RawPeer.connect(tb.wsUrl);
    raws.push(peer);
    peer.send(buildHello(mesh.meshId, erin, peer.challenge));
    expect(await peer.next('error')).toMatchObject({ code: 'E_UNAVAILABLE' });
    expect((await peer.waitClosed()).code).toBe(4001);
    // The SDK's first connect fails fast with the same, retryable, code.
    const early = connectClient(tb, mesh, frank, { reconnect: false });
    await expect(early).rejects.toBeInstanceOf(ProtocolError);
    await expect(early).rejects.toMatchObject({ code: 'E_UNAVAILABLE' });
    await sleep(1_000);
    await o.end();

    const inboxF: InboundMessage[] = [];
    const e = await connectClient(tb, mesh, erin, { resendAfterMs: 500 });
    const f = await connectClient(tb, mesh, frank, { resendAfterMs: 500 }, inboxF);
    clients.push(e, f);
    const ack = await e.send('frank', 'after the outage');
    await waitFor(() => inboxF.length === 1, 'the message at frank');
    expect(inboxF[0]).toMatchObject({ messageId: ack.message_id, text: 'after the outage' });
    const [status] = await e.messageStatus({ messageIds: [ack.message_id] });
    expect(status?.recipients.map((r) => r.display_name)).toEqual(['frank']);
  });
});
