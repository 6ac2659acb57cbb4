/**
 * The per-recipient offline-queue quota (docs/protocol.md §7.5): a recipient member has at most so
 * many messages (and ciphertext bytes) waiting in state `queued`. A DM past it is refused whole with
 * E_QUEUE_FULL and nothing is stored; an `@group` or `*` message is stored for the members with
 * room, and its ack names the members whose copy was refused (`queue_full`). Once the recipient
 * has read its queue, it takes messages again. Real broker, real SDK, both databases.
 */
import { ProtocolError, type InboundMessage, type MeshClient } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { buildHello } from './hello-frames.js';

const MAX_MESSAGES = 3;
const MAX_BYTES = 64 * 1024;

describe.each(dbKinds())('the offline-queue quota of a recipient on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  let carol: Identity;
  let a: MeshClient;
  const clients: MeshClient[] = [];

  const queuedFor = async (name: string, clientIds: string[]): Promise<number> =>
    (await a.messageStatus({ clientIds })).flatMap((m) => m.recipients).filter((r) => r.display_name === name && r.state === 'queued').length;

  beforeAll(async () => {
    tb = await startTestBroker(kind, { CLAUDEMESH_QUEUE_MAX_MESSAGES: String(MAX_MESSAGES), CLAUDEMESH_QUEUE_MAX_BYTES: String(MAX_BYTES) });
    mesh = await createTestMesh(tb);
    alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    carol = await addMember(tb, mesh, 'carol');
    await addMember(tb, mesh, 'dave');
    a = await connectClient(tb, mesh, alice);
    clients.push(a);
    await a.listPeers();
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.close();
    await tb?.close();
  });

  it('refuses a DM to a recipient whose queue is full with E_QUEUE_FULL, stores nothing, and takes DMs again once the recipient has read its queue', async () => {
    const ids = Array.from({ length: MAX_MESSAGES }, (_, i) => `bob-q-${i}-xxxx`);
    for (const [i, id] of ids.entries()) await a.send('bob', `queued ${i}`, { id });
    const refusal = await a.send('bob', 'one too many', { id: 'bob-q-over-xxxx' }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(ProtocolError);
    expect((refusal as ProtocolError).code).toBe('E_QUEUE_FULL');
    expect(await a.messageStatus({ clientIds: ['bob-q-over-xxxx'] })).toEqual([]);
    expect(await queuedFor('bob', ids)).toBe(MAX_MESSAGES);

    // A retry of a message that was stored is still acked: the quota refuses only new copies.
    const retry = await a.send('bob', 'queued 0', { id: ids[0]! });
    expect(retry.duplicate).toBe(true);

    // bob connects, gets his queue and confirms it: the quota has room again.
    const inbox: InboundMessage[] = [];
    const b = await connectClient(tb, mesh, bob, {}, inbox);
    clients.push(b);
    await waitFor(() => inbox.length >= MAX_MESSAGES, 'bob to get his queue');
    const deadline = Date.now() + 10_000;
    while ((await queuedFor('bob', ids)) > 0) {
      if (Date.now() > deadline) throw new Error('bob’s confirmations did not reach the broker');
      await new Promise((r) => setTimeout(r, 50));
    }
    await b.close();
    const ack = await a.send('bob', 'after the drain', { id: 'bob-q-after-xxx' });
    expect(ack).toMatchObject({ recipients: 1, duplicate: false });
  });

  it('refuses a DM that would take the recipient past its byte quota', async () => {
    // 40 KiB each: the second would make 80 KiB, over the 64 KiB quota.
    const big = 'x'.repeat(40 * 1024);
    await a.send('dave', big, { id: 'dave-big-1-xxxx' });
    await expect(a.send('dave', big, { id: 'dave-big-2-xxxx' })).rejects.toMatchObject({ code: 'E_QUEUE_FULL' });
    // A small one still fits.
    expect(await a.send('dave', 'small', { id: 'dave-small-xxxx' })).toMatchObject({ recipients: 1 });
  });

  it('stores a group message for the members with room and names the full ones in the ack’s queue_full', async () => {
    // carol's queue is full; bob's has room (he drained it above).
    for (let i = 0; i < MAX_MESSAGES; i++) await a.send('carol', `fill ${i}`, { id: `carol-fill-${i}-xx` });
    const raw = await RawPeer.connect(tb.wsUrl);
    raw.send(buildHello(mesh.meshId, alice, raw.challenge));
    await raw.next('hello_ack');
    for (const identity of [bob, carol]) {
      const c = await connectClient(tb, mesh, identity, { autoDelivered: false, reconnect: false });
      await c.joinGroup('crew');
      await c.close();
    }
    raw.send({ type: 'send', id: 'crew-msg-0001', to: '@crew', nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(40) });
    const ack = await raw.next('ack');
    expect(ack).toMatchObject({ id: 'crew-msg-0001', recipients: 1, duplicate: false, queue_full: [carol.publicKey] });
    const [status] = await a.messageStatus({ clientIds: ['crew-msg-0001'] });
    expect(status!.recipients.map((r) => r.display_name)).toEqual(['bob']);
    raw.close();
  });
});
