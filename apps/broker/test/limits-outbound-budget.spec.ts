/**
 * The per-connection outbound budget (docs/protocol.md §1.2, §7.6): every byte the broker writes to
 * a WebSocket counts against it — error replies, `topic_messages` pages, the challenge — before and
 * after hello. A client that stops reading its socket and keeps asking is closed as a slow consumer
 * once its unsent bytes pass the budget, instead of growing the broker's memory, and everyone else
 * keeps being served. Real broker, raw WebSockets whose socket the test pauses, real SDK peers.
 */
import type { InboundMessage, MeshClient } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { buildHello } from './hello-frames.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Small, so the kernel's socket buffers (a few MiB on loopback) are most of what fills. */
const BUDGET = 64 * 1024;
/** Stop pushing once this much waits in the client's own buffer: the broker is not reading any more. */
const CLIENT_BACKLOG_CAP = 4 * 1024 * 1024;

/**
 * Pauses the peer's socket (it reads nothing more), then writes `frame(i)` in batches, up to
 * `maxFrames`, until the broker closes the connection. The client learns of the close when a write
 * fails (the broker destroys the socket), so once every frame is out it keeps writing pings.
 */
async function floodWithoutReading(peer: RawPeer, frame: (i: number) => string, opts: { maxFrames: number; batch: number }): Promise<{ sent: number; closed: boolean }> {
  const socket = (peer.ws as unknown as { _socket: Socket })._socket;
  socket.pause();
  let sent = 0;
  const deadline = Date.now() + 30_000;
  while (peer.closed === null && peer.ws.readyState === peer.ws.OPEN && Date.now() < deadline) {
    if (peer.ws.bufferedAmount < CLIENT_BACKLOG_CAP) {
      if (sent < opts.maxFrames) for (let i = 0; i < opts.batch && sent < opts.maxFrames; i++) peer.ws.send(frame(sent++));
      else peer.ws.ping();
    }
    await sleep(sent < opts.maxFrames ? 2 : 50);
  }
  await peer.waitClosed(5_000).catch(() => undefined);
  return { sent, closed: peer.closed !== null };
}

describe.each(dbKinds())('the outbound byte budget of a connection on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  let carol: Identity;
  let a: MeshClient;
  let b: MeshClient;
  const inboxB: InboundMessage[] = [];
  let probe = 0;

  /** The well-behaved pair still exchanges a DM. */
  async function stillServing(): Promise<void> {
    const text = `still serving ${++probe}`;
    await a.send('bob', text);
    await waitFor(() => inboxB.some((m) => m.text === text), 'the well-behaved peers to keep talking', 20_000);
  }

  async function isOnline(name: string): Promise<boolean> {
    return (await a.listPeers()).find((p) => p.display_name === name)?.online ?? false;
  }

  beforeAll(async () => {
    tb = await startTestBroker(kind, {
      CLAUDEMESH_WS_OUTBOUND_BYTES: String(BUDGET),
      // The pre-hello caps and the hello deadline would end a flood before hello by themselves.
      CLAUDEMESH_WS_PREAUTH_FRAMES: '10000000',
      CLAUDEMESH_WS_PREAUTH_BYTES: String(2 ** 31),
      CLAUDEMESH_WS_HELLO_TIMEOUT_MS: '600000',
      // Nor may a rate limit be what ends a flood after hello.
      CLAUDEMESH_WS_CONN_FRAMES_PER_S: '0',
      CLAUDEMESH_WS_CONN_BYTES_PER_S: '0',
      CLAUDEMESH_WS_CONN_COSTLY_PER_S: '0',
      CLAUDEMESH_WS_MEMBER_FRAMES_PER_S: '0',
      CLAUDEMESH_WS_MEMBER_BYTES_PER_S: '0',
      CLAUDEMESH_WS_MEMBER_COSTLY_PER_S: '0',
    });
    mesh = await createTestMesh(tb);
    alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    carol = await addMember(tb, mesh, 'carol');
    a = await connectClient(tb, mesh, alice);
    b = await connectClient(tb, mesh, bob, {}, inboxB);
  }, 60_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await tb?.close();
  });

  it('closes a connection that floods tiny invalid frames before hello and never reads the errors, and keeps serving others', async () => {
    const peer = await RawPeer.connect(tb.wsUrl);
    // Each is answered with an E_SCHEMA error several times its size.
    const { sent, closed } = await floodWithoutReading(peer, (i) => `{"type":"hello","req_id":"${String(i).padStart(64, '0')}"}`, { maxFrames: 400_000, batch: 500 });
    expect(closed, `the connection was still open after ${sent} frames`).toBe(true);
    expect(sent).toBeLessThan(400_000);
    await stillServing();
    // The broker still takes new connections and completes their hello.
    const fresh = await RawPeer.connect(tb.wsUrl);
    fresh.send(buildHello(mesh.meshId, carol, fresh.challenge));
    await fresh.next('hello_ack');
    fresh.close();
  }, 120_000);

  it('closes an authenticated connection that floods tiny invalid frames and never reads the errors, and keeps serving others', async () => {
    const peer = await RawPeer.connect(tb.wsUrl);
    peer.send(buildHello(mesh.meshId, carol, peer.challenge));
    await peer.next('hello_ack');
    expect(await isOnline('carol')).toBe(true);
    const { sent, closed } = await floodWithoutReading(peer, (i) => `{"type":"nope-${'x'.repeat(34)}","req_id":"${String(i).padStart(64, '0')}"}`, { maxFrames: 400_000, batch: 500 });
    expect(closed, `the connection was still open after ${sent} frames`).toBe(true);
    expect(sent).toBeLessThan(400_000);
    expect(await isOnline('carol')).toBe(false);
    await stillServing();
  }, 120_000);

  it('closes an authenticated connection that asks for large topic_history pages and never reads them, and keeps serving others', async () => {
    // #general gets 200 messages of 16 000 characters: one page of them is over 3 MB.
    const c = await connectClient(tb, mesh, carol);
    const text = (i: number) => `${String(i).padStart(4, '0')} `.padEnd(16_000, 'z');
    for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => c.topicSend('general', text(i + j))));
    await c.close();

    const peer = await RawPeer.connect(tb.wsUrl);
    peer.send(buildHello(mesh.meshId, carol, peer.challenge));
    await peer.next('hello_ack');
    const { sent, closed } = await floodWithoutReading(peer, (i) => JSON.stringify({ type: 'topic_history', req_id: `h${i}`, topic: 'general', limit: 200 }), { maxFrames: 40, batch: 1 });
    expect(closed, `the connection was still open after ${sent} pages of about 3 MB`).toBe(true);
    expect(await isOnline('carol')).toBe(false);
    await stillServing();
  }, 120_000);
});
