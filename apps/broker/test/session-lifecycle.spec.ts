import type { InboundMessage } from '@claudemesh/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

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
});
