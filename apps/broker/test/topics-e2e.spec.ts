import {
  EpochKeyring, WAITING_FOR_KEY, meshMembersWithKeys, openTopicMessage, openTopicMessages, publishRotation, syncEpochs, topicSendEncrypted,
  revokeMember, type MeshClient, type TopicMessage,
} from '@claudemesh/core';
import { topicScope, type Identity } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';
import { api, issueKey } from './bearer-api.js';
import { SseClient } from './sse-client.js';

/**
 * End-to-end encrypted topics (docs/topics.md "Encryption"): body_version 2 posts through a real
 * broker with real keyrings. The broker takes only posts under the topic's current epoch, from a
 * member listed in it, signed for this mesh, topic, epoch, sender and id; readers open them.
 */
describe.each(dbKinds())('e2e topics on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const ids = {} as Record<'alice' | 'bob' | 'carol', Identity>;
  const open: MeshClient[] = [];
  let topicCount = 0;

  const keyring = (me: Identity) =>
    new EpochKeyring({ me, meshId: mesh.meshId, authorities: (_scope, epoch) => (epoch === 1 ? [mesh.owner, ...Object.values(ids)].map((i) => i.publicKey) : []) });
  const member = async (who: Identity) => {
    const client = await connectClient(tb, mesh, who);
    open.push(client);
    const got: TopicMessage[] = [];
    client.on('topic', (m) => got.push(m));
    return { client, ring: keyring(who), got, members: () => meshMembersWithKeys(client) };
  };
  const newTopic = async (encryption: 'e2e' | 'plaintext' = 'e2e'): Promise<string> => {
    const name = `e2e-${++topicCount}`;
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    const topics = tb.broker.app.get(TopicsService);
    await topics.create({ state, member: state.byPubkey.get(mesh.owner.publicKey)!, topics: null }, { name, visibility: 'public', description: '', encryption });
    // Pushes reach the topic's members: everyone joins.
    for (const who of Object.values(ids)) await topics.join({ state, member: state.byPubkey.get(who.publicKey)!, topics: null }, name);
    return name;
  };
  /** Every member of the mesh with a keypair: what the current epoch of a public topic must list. */
  const everyone = (): string[] => [mesh.owner, ...Object.values(ids)].map((i) => i.publicKey);
  const sql = <T>(query: string, params: unknown[] = []): Promise<T[]> => tb.broker.app.get(DataSource).query(query, params);

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'e2e-topics');
    for (const n of ['alice', 'bob', 'carol'] as const) ids[n] = await addMember(tb, mesh, n);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => tb?.close());

  it('lets two members post and read each other; the first post creates epoch 1; mentions notify; history, REST and SSE serve the sealed rows', async () => {
    const topic = await newTopic();
    const [alice, bob] = [await member(ids.alice), await member(ids.bob)];
    const key = await issueKey(tb, mesh, ids.bob, { label: 'reader', capabilities: ['read'] });
    const sse = await SseClient.open(`${tb.url}/api/v1/topics/${topic}/stream`, { key: key.secret });

    // A key named twice is one mention.
    const sent = await topicSendEncrypted(alice.client, alice.ring, topic, 'hello bob, the plan is ready', { members: alice.members, mentions: [ids.bob.publicKey, ids.bob.publicKey] });
    expect(sent).toMatchObject({ topic, body_version: 2, key_epoch: 1, sender: { member_pubkey: ids.alice.publicKey }, mentions: [ids.bob.publicKey] });
    expect(sent.text).toBeUndefined();
    await waitFor(() => bob.got.length === 1, 'bob to get the push');
    expect((await openTopicMessages(bob.client, bob.ring, bob.got)).map((m) => m.text)).toEqual(['hello bob, the plan is ready']);
    await topicSendEncrypted(bob.client, bob.ring, topic, 'thanks alice', { members: bob.members, replyTo: sent.id });
    await waitFor(() => alice.got.length === 1, 'alice to get the reply');
    expect(openTopicMessage(alice.ring, alice.got[0]!)).toMatchObject({ text: 'thanks alice', reply_to: sent.id, key_epoch: 1 });

    const notes = await sql<{ member_id: string; kind: string }>(
      `SELECT n.member_id::text, n.kind FROM notifications n JOIN topics t ON t.id = n.topic_id WHERE t.name = $1 ORDER BY n.kind`, [topic],
    );
    const memberId = async (who: Identity) => (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!.byPubkey.get(who.publicKey)!.id;
    expect(notes).toEqual([{ member_id: await memberId(ids.bob), kind: 'mention' }, { member_id: await memberId(ids.alice), kind: 'reply' }]);

    const history = await bob.client.topicHistory(topic);
    expect((await openTopicMessages(bob.client, bob.ring, history.messages)).map((m) => m.text)).toEqual(['hello bob, the plan is ready', 'thanks alice']);
    const rest = await api<{ messages: TopicMessage[] }>(tb, key.secret, 'GET', `/topics/${topic}/messages`);
    expect(rest.status).toBe(200);
    expect(rest.body.messages.every((m) => m.body_version === 2 && m.text === undefined && typeof m.sig === 'string')).toBe(true);
    expect(rest.body.messages.map((m) => openTopicMessage(bob.ring, m).text)).toEqual(['hello bob, the plan is ready', 'thanks alice']);
    await waitFor(() => sse.messages().length === 2, 'the stream to carry both');
    expect((sse.messages() as unknown as TopicMessage[]).map((m) => openTopicMessage(bob.ring, m).text)).toEqual(['hello bob, the plan is ready', 'thanks alice']);
    sse.close();

    const listed = await api<Array<{ name: string; encryption: string }>>(tb, key.secret, 'GET', '/topics');
    expect(listed.body.find((t) => t.name === topic)?.encryption).toBe('e2e');
  });

  it('refuses a post under a superseded epoch with E_EPOCH_STALE and current_epoch; the SDK syncs and sends again', async () => {
    const topic = await newTopic();
    const scope = topicScope(topic);
    const [alice, bob] = [await member(ids.alice), await member(ids.bob)];
    const both = everyone();
    await expect(bob.client.topicSendSealed(topic, 'stale-none-01', { key_epoch: 1, nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(24), sig: 'A'.repeat(86), mentions: [] }))
      .rejects.toMatchObject({ code: 'E_EPOCH_STALE', details: { current_epoch: 0 } });
    await publishRotation(alice.client, alice.ring, scope, { members: both, reason: 'create' });
    await syncEpochs(bob.client, bob.ring, scope);
    await publishRotation(alice.client, alice.ring, scope, { members: both, reason: 'scheduled' });

    const old = bob.ring.encrypt(scope, 'stale-old-001', 'under epoch 1');
    expect(old.epoch).toBe(1);
    await expect(bob.client.topicSendSealed(topic, 'stale-old-001', { key_epoch: 1, ...old.message, mentions: [] }))
      .rejects.toMatchObject({ code: 'E_EPOCH_STALE', details: { current_epoch: 2 } });
    const sent = await topicSendEncrypted(bob.client, bob.ring, topic, 'after the rotation', { members: bob.members });
    expect(sent.key_epoch).toBe(2);
    await waitFor(() => alice.got.length === 1, 'alice to get it');
    expect(openTopicMessage(alice.ring, alice.got[0]!).text).toBe('after the rotation');
  });

  it('refuses posts re-labelled to another topic, epoch or sender (E_MESSAGE_INVALID), and a reader refuses a tampered stored row', async () => {
    const [first, second] = [await newTopic(), await newTopic()];
    const [alice, carol] = [await member(ids.alice), await member(ids.carol)];
    const all = everyone();
    for (const t of [first, second]) await publishRotation(alice.client, alice.ring, topicScope(t), { members: all, reason: 'create' });
    await syncEpochs(carol.client, carol.ring, topicScope(first));
    const invalid = { code: 'E_MESSAGE_INVALID' };

    // Sealed for #first, posted to #second (both at epoch 1).
    const forFirst = alice.ring.encrypt(topicScope(first), 'relabel-t-01', 'meant for first');
    await expect(alice.client.topicSendSealed(second, 'relabel-t-01', { key_epoch: 1, ...forFirst.message, mentions: [] })).rejects.toMatchObject(invalid);
    // Sealed under epoch 1, labelled as the current epoch 2.
    const underOne = alice.ring.encrypt(topicScope(first), 'relabel-e-01', 'under epoch one');
    await publishRotation(alice.client, alice.ring, topicScope(first), { members: all, reason: 'scheduled' });
    await expect(alice.client.topicSendSealed(first, 'relabel-e-01', { key_epoch: 2, ...underOne.message, mentions: [] })).rejects.toMatchObject(invalid);
    // Another id than the one signed.
    const signed = alice.ring.encrypt(topicScope(first), 'relabel-i-01', 'this id');
    await expect(alice.client.topicSendSealed(first, 'relabel-i-02', { key_epoch: 2, ...signed.message, mentions: [] })).rejects.toMatchObject(invalid);
    // Carol posts what alice sealed and signed: the broker checks it against carol, the sender.
    await syncEpochs(carol.client, carol.ring, topicScope(first));
    await expect(carol.client.topicSendSealed(first, 'relabel-i-01', { key_epoch: 2, ...signed.message, mentions: [] })).rejects.toMatchObject(invalid);

    // What the broker stores, a reader checks again: a row moved to another sender or topic is refused.
    const { message: good } = await alice.client.topicSendSealed(first, 'relabel-i-01', { key_epoch: 2, ...signed.message, mentions: [] });
    expect(openTopicMessage(carol.ring, good).text).toBe('this id');
    const dir = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    await sql('UPDATE topic_messages SET sender_member_id = $1 WHERE id = $2', [dir.byPubkey.get(ids.carol.publicKey)!.id, good.id]);
    const asCarol = (await carol.client.topicHistory(first)).messages.find((m) => m.id === good.id)!;
    expect(asCarol.sender.member_pubkey).toBe(ids.carol.publicKey);
    expect(openTopicMessage(carol.ring, asCarol)).toMatchObject({ text: null, reason: expect.stringMatching(/^refused: .*not signed by its sender/) });
    await sql('UPDATE topic_messages SET sender_member_id = $1, topic_id = (SELECT id FROM topics WHERE mesh_id = $2 AND name = $3), key_epoch = 1 WHERE id = $4', [
      dir.byPubkey.get(ids.alice.publicKey)!.id, mesh.meshId, second, good.id,
    ]);
    await syncEpochs(carol.client, carol.ring, topicScope(second));
    const moved = (await carol.client.topicHistory(second)).messages.find((m) => m.id === good.id)!;
    expect(moved.topic).toBe(second);
    expect(openTopicMessage(carol.ring, moved)).toMatchObject({ text: null, reason: expect.stringMatching(/^refused: /) });
  });

  it('refuses text on an e2e topic and a sealed body on a plaintext topic (E_TOPIC_MODE), over WebSocket and REST', async () => {
    const [sealedTopic, plainTopic] = [await newTopic('e2e'), await newTopic('plaintext')];
    const alice = await member(ids.alice);
    await expect(alice.client.topicSend(sealedTopic, 'plain words')).rejects.toMatchObject({ code: 'E_TOPIC_MODE' });
    const key = await issueKey(tb, mesh, ids.alice, { label: 'poster', capabilities: ['read', 'send'] });
    const posted = await api<{ error: { code: string } }>(tb, key.secret, 'POST', `/topics/${sealedTopic}/messages`, { text: 'plain words' });
    expect([posted.status, posted.body.error.code]).toEqual([400, 'E_TOPIC_MODE']);
    await publishRotation(alice.client, alice.ring, topicScope(plainTopic), { members: [ids.alice.publicKey], reason: 'create' });
    const sealed = alice.ring.encrypt(topicScope(plainTopic), 'mode-plain-01', 'sealed words');
    await expect(alice.client.topicSendSealed(plainTopic, 'mode-plain-01', { key_epoch: 1, ...sealed.message, mentions: [] })).rejects.toMatchObject({ code: 'E_TOPIC_MODE' });
    expect(await alice.client.topicSend(plainTopic, 'plain words')).toMatchObject({ body_version: 1, text: 'plain words' });
    const created = await api<{ name: string; encryption: string }>(tb, key.secret, 'POST', '/topics', { name: `${plainTopic}-rest`, encryption: 'e2e' });
    expect([created.status, created.body.encryption]).toEqual([201, 'e2e']);
    const e2eByDefault = await api<{ encryption: string }>(tb, key.secret, 'POST', '/topics', { name: `${plainTopic}-default` });
    expect([e2eByDefault.status, e2eByDefault.body.encryption]).toEqual([201, 'e2e']);
    const plainOnRequest = await api<{ encryption: string }>(tb, key.secret, 'POST', '/topics', { name: `${plainTopic}-plain`, encryption: 'plaintext' });
    expect([plainOnRequest.status, plainOnRequest.body.encryption]).toEqual([201, 'plaintext']);
    expect((await sql<{ n: number }>('SELECT count(*)::int AS n FROM topic_messages m JOIN topics t ON t.id = m.topic_id WHERE t.name = $1', [sealedTopic]))[0]!.n).toBe(0);
  });

  it('shows a message whose key has not reached the reader as text null, waiting for a key, never dropped', async () => {
    const topic = await newTopic();
    const [alice, carol] = [await member(ids.alice), await member(ids.carol)];
    // Epoch 1 lists carol, but its creator sealed the key only for alice and bob (a seal still to come).
    const scope = topicScope(topic);
    const pending = alice.ring.rotate(scope, { members: everyone(), reason: 'create' });
    await alice.client.publishEpoch(pending.signed, pending.seals.filter((x) => x.recipient === ids.alice.publicKey || x.recipient === ids.bob.publicKey));
    alice.ring.accept(scope, pending);
    await topicSendEncrypted(alice.client, alice.ring, topic, 'only for alice and bob', { members: async () => everyone() });
    await waitFor(() => carol.got.length === 1, 'carol to get the push');
    const [opened] = await openTopicMessages(carol.client, carol.ring, carol.got);
    expect(opened).toMatchObject({ text: null, reason: WAITING_FOR_KEY, key_epoch: 1, ciphertext: carol.got[0]!.ciphertext });
    expect(carol.ring.currentEpoch(topicScope(topic))).toBe(1); // synced and verified: only the key is missing
  });

  it('refuses a sealed post from a member the current epoch does not list', async () => {
    const topic = await newTopic();
    const [alice, carol] = [await member(ids.alice), await member(ids.carol)];
    await publishRotation(alice.client, alice.ring, topicScope(topic), { members: [ids.alice.publicKey], reason: 'create' });
    await syncEpochs(carol.client, carol.ring, topicScope(topic));
    // carol holds no key; she signs a body of her own under epoch 1's number.
    const forged = alice.ring.encrypt(topicScope(topic), 'unlisted-c-01', 'from alice');
    await expect(carol.client.topicSendSealed(topic, 'unlisted-c-01', { key_epoch: 1, ...forged.message, mentions: [] }))
      .rejects.toMatchObject({ code: 'E_MESSAGE_INVALID', message: expect.stringMatching(/not a member of key epoch 1/) });
  });

  it('rotates before the next send when a listed member is revoked or a member joins: the broker says so, the sender rotates, the revoked member cannot open what follows', async () => {
    // A mesh of its own: revoking here must not disturb the other tests.
    const m2 = await createTestMesh(tb, 'e2e-rotation');
    const [dan, erin, frank] = [await addMember(tb, m2, 'dan'), await addMember(tb, m2, 'erin'), await addMember(tb, m2, 'frank')];
    const ring = (me: Identity) => new EpochKeyring({ me, meshId: m2.meshId, authorities: (_s, epoch) => (epoch === 1 ? [m2.owner, dan, erin, frank].map((i) => i.publicKey) : []) });
    const join = async (who: Identity) => {
      const client = await connectClient(tb, m2, who);
      open.push(client);
      return { client, ring: ring(who), members: () => meshMembersWithKeys(client) };
    };
    const [d, e, f] = [await join(dan), await join(erin), await join(frank)];
    const topic = 'rotating';
    const state = (await tb.broker.app.get(MeshDirectory).get(m2.meshId))!;
    await tb.broker.app.get(TopicsService).create({ state, member: state.byPubkey.get(dan.publicKey)!, topics: null }, { name: topic, visibility: 'public', description: '', encryption: 'e2e' });
    const scope = topicScope(topic);

    const first = await topicSendEncrypted(d.client, d.ring, topic, 'all four of us', { members: d.members });
    expect(first.key_epoch).toBe(1);
    await syncEpochs(f.client, f.ring, scope);
    expect(openTopicMessage(f.ring, first).text).toBe('all four of us');

    await revokeMember(tb.url, m2.owner, m2.meshId, frank.publicKey);
    // A listed member asking for the epochs learns it too, so it may rotate before anyone sends.
    expect((await d.client.getEpochs(scope)).rotate).toEqual({ reason: 'member_removed', departed: [frank.publicKey], joined: [] });
    // Under epoch 1, which lists frank, nothing more is stored: the broker names who departed.
    await syncEpochs(e.client, e.ring, scope);
    const stale = e.ring.encrypt(scope, 'rotate-need-01', 'still epoch 1');
    await expect(e.client.topicSendSealed(topic, 'rotate-need-01', { key_epoch: 1, ...stale.message, mentions: [] })).rejects.toMatchObject({
      code: 'E_EPOCH_STALE', details: { current_epoch: 1, rotate: { reason: 'member_removed', departed: [frank.publicKey], joined: [] } },
    });
    // The SDK rotates on that answer and sends again: epoch 2 does not list frank.
    const after = await topicSendEncrypted(e.client, e.ring, topic, 'frank must not read this', { members: e.members });
    expect(after.key_epoch).toBe(2);
    expect(e.ring.currentManifest(scope)!.members).not.toContain(frank.publicKey);
    expect(e.ring.currentManifest(scope)!.reason).toBe('member_removed');
    // Frank's keyring still holds epoch 1, and gets nothing of epoch 2, even from the stored row.
    const [row] = await sql<{ nonce: Buffer; ciphertext: Buffer; sig: string; key_epoch: number }>('SELECT nonce, ciphertext, sig, key_epoch FROM topic_messages WHERE id = $1', [after.id]);
    const taken = { ...after, key_epoch: row!.key_epoch, nonce: row!.nonce.toString('base64url'), ciphertext: row!.ciphertext.toString('base64url'), sig: row!.sig };
    expect(openTopicMessage(f.ring, taken)).toMatchObject({ text: null, reason: WAITING_FOR_KEY });
    expect(f.ring.context(scope, 1)).not.toBeNull();
    await syncEpochs(d.client, d.ring, scope);
    expect(openTopicMessage(d.ring, taken).text).toBe('frank must not read this');

    // A joiner is added by the next send: rotation with reason member_added, and it reads from then on.
    const gwen = await addMember(tb, m2, 'gwen');
    const g = await join(gwen);
    g.ring = new EpochKeyring({ me: gwen, meshId: m2.meshId, authorities: (_s, epoch) => (epoch === 1 ? [dan.publicKey] : []) });
    const welcome = await topicSendEncrypted(d.client, d.ring, topic, 'welcome gwen', { members: d.members });
    expect(welcome.key_epoch).toBe(3);
    expect(d.ring.currentManifest(scope)).toMatchObject({ reason: 'member_added' });
    await syncEpochs(g.client, g.ring, scope);
    expect(openTopicMessage(g.ring, welcome).text).toBe('welcome gwen');
    // History from before her join stays closed to her (docs/topics.md "Joiners and history").
    expect(openTopicMessage(g.ring, after)).toMatchObject({ text: null, reason: WAITING_FOR_KEY });
  });

  it("makes #general of a new mesh e2e, keyed by the first member client that posts in it", async () => {
    const m3 = await createTestMesh(tb, 'e2e-general', { general: 'e2e' });
    const hana = await addMember(tb, m3, 'hana');
    const client = await connectClient(tb, m3, hana);
    open.push(client);
    const key = await issueKey(tb, m3, hana, { label: 'reader', capabilities: ['read', 'send'] });
    const listed = await api<Array<{ name: string; encryption: string }>>(tb, key.secret, 'GET', '/topics');
    expect(listed.body.find((t) => t.name === 'general')?.encryption).toBe('e2e');
    const text = await api<{ error: { code: string } }>(tb, key.secret, 'POST', '/topics/general/messages', { text: 'plain' });
    expect([text.status, text.body.error.code]).toEqual([400, 'E_TOPIC_MODE']);
    const ring = new EpochKeyring({ me: hana, meshId: m3.meshId, authorities: (_s, epoch) => (epoch === 1 ? [hana.publicKey] : []) });
    const first = await topicSendEncrypted(client, ring, 'general', 'first words in #general', { members: () => meshMembersWithKeys(client) });
    expect(first).toMatchObject({ key_epoch: 1, body_version: 2 });
    expect(ring.currentManifest(topicScope('general'))).toMatchObject({ created_by: hana.publicKey, members: [hana.publicKey, m3.owner.publicKey].sort() });
  });
});
