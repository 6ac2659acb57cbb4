/**
 * What a reader that stopped reading sees (docs/protocol.md §7.6): the `E_SLOW_CONSUMER` error frame
 * is queued behind the backlog it could not read, so it is best-effort; the close is what a client
 * can rely on — 4008 when the close handshake gets through, an abnormal close (1006) when the broker
 * had to drop the socket — and its messages stay queued either way.
 */
import { type InboundMessage, type MeshClient } from '@claudemesh/core';
import { type Identity } from '@claudemesh/crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { buildHello } from './hello-frames.js';

/** Large DMs, well past the 8 MiB unsent-bytes limit plus what loopback socket buffers absorb. */
const DMS = 100;
const BODY = 'x'.repeat(170 * 1024);

describe('a reader that stops reading', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let bob: Identity;
  let a: MeshClient;
  let stalled: RawPeer;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    stalled = await RawPeer.connect(tb.wsUrl);
    stalled.send(buildHello(mesh.meshId, bob, stalled.challenge));
    await stalled.next('hello_ack');
    (stalled.ws as unknown as { _socket: Socket })._socket.pause();
    a = await connectClient(tb, mesh, alice);
    for (let i = 0; i < DMS; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => a.send('bob', BODY, { id: `stopped-reader-${i + j}` })));
  }, 120_000);

  afterAll(async () => {
    stalled?.close();
    await a?.close();
    await tb?.close();
  });

  it('is closed by the broker, with 4008 or an abnormal close, the error frame being best-effort, and loses nothing', async () => {
    const offline = async (): Promise<boolean> => !(await a.listPeers()).find((p) => p.display_name === 'bob')!.online;
    const deadline = Date.now() + 20_000;
    while (!(await offline())) {
      if (Date.now() > deadline) throw new Error('bob is still online after the flood');
      await new Promise((r) => setTimeout(r, 100));
    }
    (stalled.ws as unknown as { _socket: Socket })._socket.resume();
    const closed = await stalled.waitClosed(20_000);
    expect([4008, 1006]).toContain(closed.code);
    const slow = stalled.frames.some((f) => f['type'] === 'error' && f['code'] === 'E_SLOW_CONSUMER');
    // A 4008 close frame travels behind the error frame on the same stream; an abnormal close may come without it.
    if (closed.code === 4008) expect(slow).toBe(true);

    const inbox: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, {}, inbox);
    try {
      await waitFor(() => new Set(inbox.map((m) => m.clientId)).size === DMS, `all ${DMS} DMs after reconnecting`, 60_000);
    } finally {
      await b.close();
    }
  });
});
