import { joinMesh, issueInvite, listMembers, renameMember, revokeMember, signedRequest, type InboundMessage } from '@claudemesh/core';
import { generateIdentity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

/** PATCH /api/v1/meshes/:meshId/members/me (protocol §8.3, RenameMemberBody). */
describe.each(dbKinds())('a member renaming itself on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'renames');
  });
  afterAll(async () => tb?.close());

  it('routes to the new name at once, frees the old one, and shows the new name to every peer', async () => {
    const alice = await addMember(tb, mesh, 'peer');
    const bob = await addMember(tb, mesh, 'bob');
    const aliceInbox: InboundMessage[] = [];
    const a = await connectClient(tb, mesh, alice, {}, aliceInbox);
    const b = await connectClient(tb, mesh, bob);

    expect(await renameMember(tb.url, alice, mesh.meshId, 'alice')).toEqual({ member_pubkey: alice.publicKey, display_name: 'alice', role: 'member', peer_type: 'ai' });
    // bob's client learned "peer" before; the broker now routes by the new name only.
    const sent = await b.send('alice', 'to the new name');
    expect(sent.recipients).toBe(1);
    await waitFor(() => aliceInbox.some((m) => m.messageId === sent.message_id), 'the DM at the new name');
    await expect(b.sendFrame({ type: 'send', id: 'to-the-old-name-1', to: 'peer', nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(22) })).rejects.toMatchObject({ code: 'E_UNKNOWN_TARGET' });

    // Every peer sees the new name: in peers, in the member list, on pushes from it.
    expect((await b.listPeers()).map((p) => p.display_name).sort()).toEqual(['alice', 'bob', 'owner']);
    expect((await listMembers(tb.url, bob, mesh.meshId)).members.map((m) => m.display_name)).toEqual(['owner', 'alice', 'bob']);
    const bobInbox: InboundMessage[] = [];
    b.on('message', (m) => bobInbox.push(m));
    const back = await a.send('bob', 'signed alice');
    await waitFor(() => bobInbox.some((m) => m.messageId === back.message_id), 'alice’s DM at bob');
    expect(bobInbox.find((m) => m.messageId === back.message_id)!.from.displayName).toBe('alice');

    // The old name is free for the next person.
    const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
    expect((await joinMesh(tb.url, { invite, identity: generateIdentity(), displayName: 'peer' })).member.display_name).toBe('peer');
    // A later connection's hello_ack carries the new name.
    await a.close();
    const again = await connectClient(tb, mesh, alice);
    expect(again.lastHelloAck?.member.display_name).toBe('alice');
    await again.close();
    await b.close();
  });

  it('refuses a name another member holds with E_NAME_TAKEN, a bad name with E_SCHEMA, and keeps its own name as a no-op', async () => {
    const carol = await addMember(tb, mesh, 'carol');
    await addMember(tb, mesh, 'dave');
    await expect(renameMember(tb.url, carol, mesh.meshId, 'dave')).rejects.toMatchObject({ code: 'E_NAME_TAKEN' });
    await expect(renameMember(tb.url, carol, mesh.meshId, 'owner')).rejects.toMatchObject({ code: 'E_NAME_TAKEN' });
    await expect(renameMember(tb.url, carol, mesh.meshId, '@team')).rejects.toMatchObject({ code: 'E_SCHEMA' });
    await expect(renameMember(tb.url, carol, mesh.meshId, 'a'.repeat(64).replace(/a/g, 'b'))).rejects.toMatchObject({ code: 'E_SCHEMA' });
    await expect(signedRequest(tb.url, carol, mesh.meshId, 'PATCH', `/api/v1/meshes/${mesh.meshId}/members/me`, { display_name: 'carol2', role: 'owner' })).rejects.toMatchObject({ code: 'E_SCHEMA' });
    expect((await renameMember(tb.url, carol, mesh.meshId, 'carol')).display_name).toBe('carol');
    expect((await listMembers(tb.url, carol, mesh.meshId)).members.find((m) => m.member_pubkey === carol.publicKey)?.display_name).toBe('carol');
  });

  it('keeps a revoked member’s name taken and refuses the revoked member itself', async () => {
    const erin = await addMember(tb, mesh, 'erin');
    const frank = await addMember(tb, mesh, 'frank');
    await revokeMember(tb.url, mesh.owner, mesh.meshId, erin.publicKey);
    await expect(renameMember(tb.url, erin, mesh.meshId, 'erin2')).rejects.toMatchObject({ code: 'E_REVOKED' });
    await expect(renameMember(tb.url, frank, mesh.meshId, 'erin')).rejects.toMatchObject({ code: 'E_NAME_TAKEN' });
    await expect(renameMember(tb.url, generateIdentity(), mesh.meshId, 'nobody')).rejects.toMatchObject({ code: 'E_NOT_MEMBER' });
  });
});
