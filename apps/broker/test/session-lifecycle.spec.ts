import { LIMITS, MeshClient, type InboundMessage } from '@claudemesh/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { buildHello } from './hello-frames.js';

describe.each(dbKinds())('session lifecycle on %s', (kind) => {
  let tb: TestBroker;
  beforeAll(async () => {
    tb = await startTestBroker(kind);
  });
  afterAll(async () => tb?.close());

  it('ends a session when its attestation expires; the SDK reconnects with a fresh session and keeps receiving', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    const inbox: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, { sessionTtlMs: 800 }, inbox);
    const disconnects: Array<{ code: number; reason: string }> = [];
    b.on('disconnected', (d) => disconnects.push(d));
    await waitFor(() => disconnects.length >= 1, 'the expiry disconnect');
    expect(disconnects[0]?.reason).toBe('E_SESSION_EXPIRED');
    await waitFor(() => b.connected, 'reconnect');
    await a.send('bob', 'after expiry');
    await waitFor(() => inbox.some((m) => m.text === 'after expiry'), 'delivery after reconnect');
    await a.close();
    await b.close();
  });

  it('marks a member offline in list_peers once its last session closes', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const bob = await addMember(tb, mesh, 'bob');
    const a = await connectClient(tb, mesh, alice);
    const b = await connectClient(tb, mesh, bob);
    expect((await a.listPeers()).find((p) => p.display_name === 'bob')?.online).toBe(true);
    await b.close();
    await new Promise((r) => setTimeout(r, 50));
    expect((await a.listPeers()).find((p) => p.display_name === 'bob')?.online).toBe(false);
    await a.close();
  });

  it('fails a request made on a closed client, or waiting for its connection when it is closed, instead of waiting for ever', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const a = await connectClient(tb, mesh, alice);
    await a.close();
    await expect(a.listPeers()).rejects.toThrow(/closed/);
    // A client between connections (the broker went away) fails its waiting request once closed.
    const b = await connectClient(tb, mesh, alice, { reconnect: true });
    const dropped = new Promise((resolve) => b.once('disconnected', resolve));
    (b as unknown as { ws: { terminate(): void } }).ws.terminate();
    await dropped;
    const waiting = b.listPeers();
    await b.close();
    await expect(waiting).rejects.toThrow(/closed/);
  });

  it('accepts an attestation up to 30 days ahead and refuses a longer one with E_SESSION_EXPIRED (close 4001)', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const hello = async (expiresAt: number) => {
      const p = await RawPeer.connect(tb.wsUrl);
      p.send(buildHello(mesh.meshId, alice, p.challenge, {}, { expiresAt }));
      await waitFor(() => p.frames.some((f) => f['type'] === 'hello_ack' || f['type'] === 'error'), 'the hello answer');
      const answer = p.frames.find((f) => f['type'] === 'hello_ack' || f['type'] === 'error')!;
      if (answer['type'] === 'hello_ack') {
        p.close();
        return 'hello_ack';
      }
      return `${answer['code'] as string} ${(await p.waitClosed()).code}`;
    };
    // A minute of margin either side for the time between building the hello and verifying it.
    expect(await hello(Date.now() + LIMITS.maxSessionTtlMs - 60_000)).toBe('hello_ack');
    expect(await hello(Date.now() + LIMITS.maxSessionTtlMs + 60_000)).toBe('E_SESSION_EXPIRED 4001');
    expect(await hello(Date.now() + 100 * 365 * 86_400_000)).toBe('E_SESSION_EXPIRED 4001');
  });

  it('accepts the SDK’s default 24-hour attestation, and the SDK refuses a session lifetime beyond the maximum before connecting', async () => {
    const mesh = await createTestMesh(tb);
    const alice = await addMember(tb, mesh, 'alice');
    const a = await connectClient(tb, mesh, alice);
    expect(a.connected).toBe(true);
    await a.close();
    const options = { url: tb.wsUrl, meshId: mesh.meshId, identity: alice };
    expect(() => new MeshClient({ ...options, sessionTtlMs: LIMITS.maxSessionTtlMs + 1 })).toThrow(/sessionTtlMs/);
    expect(() => new MeshClient({ ...options, sessionTtlMs: 0 })).toThrow(/sessionTtlMs/);
    expect(() => new MeshClient({ ...options, sessionTtlMs: LIMITS.maxSessionTtlMs })).not.toThrow();
  });
});
