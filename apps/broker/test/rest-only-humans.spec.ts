/**
 * REST-only humans (docs/protocol.md §6.1, docs/topics.md): members enrolled with only an API key,
 * whose public key is a placeholder nobody holds the secret of. Nothing can be encrypted to them,
 * so the broker refuses DMs to them, `@group` and `*` leave them out, `peers` marks them, and the
 * SDK refuses to box a DM for them.
 */
import { type MeshClient } from '@claudemesh/core';
import { randomBytes, toB64u, type Identity } from '@claudemesh/crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { api, issueKey } from './bearer-api.js';
import { helloPeer } from './hello-frames.js';

describe.each(dbKinds())('REST-only humans on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let danaKey: string;
  let danaPubkey: string;
  let a: MeshClient;
  const peers: RawPeer[] = [];

  async function authenticated(identity: Identity): Promise<RawPeer> {
    const p = await helloPeer(tb.wsUrl, mesh.meshId, identity);
    peers.push(p);
    return p;
  }

  const sealed = (): { nonce: string; ciphertext: string } => ({ nonce: toB64u(randomBytes(24)), ciphertext: toB64u(randomBytes(40)) });

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb);
    alice = await addMember(tb, mesh, 'alice');
    await addMember(tb, mesh, 'bob');
    danaKey = (await issueKey(tb, mesh, mesh.owner, { capabilities: ['read', 'send'], human: 'dana' })).secret;
    danaPubkey = (await api<{ member: { member_pubkey: string } }>(tb, danaKey, 'GET', '/me')).body.member.member_pubkey;
    a = await connectClient(tb, mesh, alice);
  });

  afterEach(() => {
    for (const p of peers.splice(0)) p.close();
  });

  afterAll(async () => {
    await a?.close();
    await tb?.close();
  });

  it('marks them rest_only in peers, and nobody else', async () => {
    const listed = await a.listPeers();
    const dana = listed.find((p) => p.display_name === 'dana')!;
    expect(dana).toMatchObject({ member_pubkey: danaPubkey, peer_type: 'human', rest_only: true, sessions: [] });
    expect(listed.filter((p) => p.rest_only === true).map((p) => p.display_name)).toEqual(['dana']);
    expect(listed.find((p) => p.display_name === 'bob')).not.toHaveProperty('rest_only');
  });

  it('creates plaintext topics by default for one (it could not use an e2e topic); anyone may still ask for e2e', async () => {
    const own = await api<{ encryption: string }>(tb, danaKey, 'POST', '/topics', { name: 'dana-notes' });
    expect([own.status, own.body.encryption]).toEqual([201, 'plaintext']);
    const posted = await api<{ message: { text: string } }>(tb, danaKey, 'POST', '/topics/dana-notes/messages', { text: 'posted with curl' });
    expect([posted.status, posted.body.message.text]).toEqual([201, 'posted with curl']);
    const sealed = await api<{ encryption: string }>(tb, danaKey, 'POST', '/topics', { name: 'dana-sealed', encryption: 'e2e' });
    expect([sealed.status, sealed.body.encryption]).toEqual([201, 'e2e']);
    const refused = await api<{ error: { code: string } }>(tb, danaKey, 'POST', '/topics/dana-sealed/messages', { text: 'cannot seal' });
    expect([refused.status, refused.body.error.code]).toEqual([400, 'E_TOPIC_MODE']);
  });

  it('refuses a DM to one, by name or by key, with E_FORBIDDEN and stores nothing', async () => {
    const p = await authenticated(alice);
    p.send({ type: 'send', id: 'dm-to-dana-1', to: 'dana', ...sealed() });
    const byName = await p.next('error');
    expect([byName['code'], byName['ref']]).toEqual(['E_FORBIDDEN', 'dm-to-dana-1']);
    p.send({ type: 'send', id: 'dm-to-dana-2', to: danaPubkey, ...sealed() });
    expect((await p.next('error'))['code']).toBe('E_FORBIDDEN');
    expect(await a.messageStatus({ clientIds: ['dm-to-dana-1', 'dm-to-dana-2'] })).toEqual([]);
  });

  it('leaves them out of * and @group fan-out', async () => {
    const p = await authenticated(alice);
    p.send({ type: 'send', id: 'broadcast-no-dana', to: '*', ...sealed() });
    const ack = await p.next('ack');
    // owner and bob; not dana, not alice herself.
    expect(ack['recipients']).toBe(2);
    const [status] = await a.messageStatus({ clientIds: ['broadcast-no-dana'] });
    expect(status!.recipients.map((r) => r.display_name).sort()).toEqual(['bob', 'owner']);
  });

  it('has the SDK refuse to encrypt a DM to one, before anything is sent', async () => {
    await a.listPeers();
    await expect(a.send('dana', 'hello?')).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(a.send(danaPubkey, 'hello?')).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    const fresh = await connectClient(tb, mesh, alice);
    try {
      // Without a cached peer list the SDK lists peers first, and refuses just the same.
      await expect(fresh.send('dana', 'hello?')).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    } finally {
      await fresh.close();
    }
  });

  it('still lets them take part in topics', async () => {
    const posted = await api<{ message: { sender: { display_name: string; peer_type: string } } }>(tb, danaKey, 'POST', '/topics/general/messages', { text: 'hi from curl' });
    expect([posted.status, posted.body.message.sender]).toEqual([201, expect.objectContaining({ display_name: 'dana', peer_type: 'human' })]);
  });
});
