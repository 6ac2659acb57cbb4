import type { InboundMessage, MeshClient, Receipt } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

describe.each(dbKinds())('direct messages on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  let a: MeshClient;
  let b: MeshClient;
  const inboxB: InboundMessage[] = [];
  const receiptsA: Receipt[] = [];

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb);
    alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    a = await connectClient(tb, mesh, alice);
    b = await connectClient(tb, mesh, bob);
    b.on('message', (m) => inboxB.push(m));
    a.on('receipt', (r) => receiptsA.push(r));
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await tb?.close();
  });

  it('delivers a DM addressed by display name, which the recipient decrypts', async () => {
    const ack = await a.send('bob', 'hello bob, by name');
    expect(ack.recipients).toBe(1);
    expect(ack.duplicate).toBe(false);
    await waitFor(() => inboxB.some((m) => m.messageId === ack.message_id), 'bob to receive the DM');
    const got = inboxB.find((m) => m.messageId === ack.message_id)!;
    expect(got.text).toBe('hello bob, by name');
    expect(got.kind).toBe('dm');
    expect(got.from.memberPubkey).toBe(alice.publicKey);
    expect(got.from.displayName).toBe('alice');
    expect(got.to).toBe(bob.publicKey);
  });

  it('delivers a DM addressed by member pubkey and by session pubkey', async () => {
    const byMember = await a.send(bob.publicKey, 'by member key');
    const bySession = await a.send(b.session.publicKey, 'by session key');
    await waitFor(() => [byMember, bySession].every((ack) => inboxB.some((m) => m.messageId === ack.message_id)), 'both DMs');
    expect(inboxB.find((m) => m.messageId === bySession.message_id)?.text).toBe('by session key');
  });

  it('moves a DM from queued to delivered to read and pushes receipts to the sender', async () => {
    const ack = await a.send('bob', 'track my state');
    await waitFor(() => receiptsA.some((r) => r.message_id === ack.message_id && r.state === 'delivered'), 'delivered receipt');
    const [delivered] = await a.messageStatus({ messageIds: [ack.message_id] });
    expect(delivered?.recipients).toEqual([expect.objectContaining({ member_pubkey: bob.publicKey, display_name: 'bob', state: 'delivered', read_at: null })]);
    b.markRead([ack.message_id]);
    await waitFor(() => receiptsA.some((r) => r.message_id === ack.message_id && r.state === 'read'), 'read receipt');
    const [read] = await a.messageStatus({ clientIds: [ack.id] });
    expect(read?.recipients[0]?.state).toBe('read');
    expect(read?.recipients[0]?.read_at).toBeGreaterThan(0);
  });

  it('reports queued for a recipient that has not confirmed receipt', async () => {
    const carol = await addMember(tb, mesh, 'carol');
    const ack = await a.send(carol.publicKey, 'carol is offline');
    const [status] = await a.messageStatus({ messageIds: [ack.message_id] });
    expect(status?.recipients).toEqual([expect.objectContaining({ display_name: 'carol', state: 'queued', delivered_at: null })]);
  });

  it('does not show a message status to anyone but its sender', async () => {
    const ack = await a.send('bob', 'private status');
    expect(await b.messageStatus({ messageIds: [ack.message_id] })).toEqual([]);
  });

  it('lists peers with presence, type, status and summary', async () => {
    await b.setStatus('working');
    await b.setSummary('refactoring the parser');
    const peers = await a.listPeers();
    const bobPeer = peers.find((p) => p.display_name === 'bob');
    expect(bobPeer).toMatchObject({ member_pubkey: bob.publicKey, online: true, peer_type: 'ai', role: 'member' });
    expect(bobPeer?.sessions).toEqual([expect.objectContaining({ session_pubkey: b.session.publicKey, status: 'working', summary: 'refactoring the parser' })]);
    expect(peers.find((p) => p.display_name === 'owner')?.online).toBe(false);
  });

  it('rejects a DM to an unknown name with E_UNKNOWN_TARGET and stores nothing', async () => {
    await expect(a.sendFrame({ type: 'send', id: 'unknown-target-1', to: 'nobody', nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(40) })).rejects.toMatchObject({ code: 'E_UNKNOWN_TARGET' });
    expect(await a.messageStatus({ clientIds: ['unknown-target-1'] })).toEqual([]);
  });
});
