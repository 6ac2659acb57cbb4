import {
  EpochKeyring, MeshApi, meshMembersWithKeys, openTopicMessage, openTopicMessages, publishRotation, syncEpochs, topicSendEncrypted,
  type MeshClient, type TopicMessage,
} from '@claudemesh/core';
import { topicScope, type Identity } from '@claudemesh/crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';
import { api, cell, issueKey, type Answer } from './bearer-api.js';

type ErrorAnswer = { error: { code: string; message: string; current_epoch?: number; retry_after_ms?: number } };

/**
 * Issue 13: SDK (WebSocket) and REST-with-keypair clients interoperate in one e2e topic. A REST
 * client whose API key speaks for a member holding its keypair syncs, publishes and re-seals epochs
 * and posts sealed messages over REST alone, with the same SDK helpers as the WebSocket client; a
 * REST-only human (no keypair) is told it cannot post and reads ciphertext only.
 */
describe.each(dbKinds())('e2e topics over REST on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const ids = {} as Record<'alice' | 'bob' | 'carol', Identity>;
  const open: MeshClient[] = [];
  let topicCount = 0;

  const authorities = (_scope: string, epoch: number) => (epoch === 1 ? [mesh.owner, ...Object.values(ids)].map((i) => i.publicKey) : []);
  const keyring = (me: Identity) => new EpochKeyring({ me, meshId: mesh.meshId, authorities });
  /** A WebSocket SDK member collecting its topic pushes. */
  const wsMember = async (who: Identity) => {
    const client = await connectClient(tb, mesh, who);
    open.push(client);
    const got: TopicMessage[] = [];
    client.on('topic', (m) => got.push(m));
    return { client, ring: keyring(who), got };
  };
  /** A REST-with-keypair member: an API key it minted itself, and its own keyring. */
  const restMember = async (who: Identity, capabilities: Array<'read' | 'send'> = ['read', 'send']) => {
    const key = await issueKey(tb, mesh, who, { label: 'rest e2e', capabilities });
    return { api: new MeshApi(tb.url, key.secret), key: key.secret, ring: keyring(who) };
  };
  const everyone = (): string[] => [mesh.owner, ...Object.values(ids)].map((i) => i.publicKey);
  const newTopic = async (encryption: 'e2e' | 'plaintext' = 'e2e'): Promise<string> => {
    const name = `rest-e2e-${++topicCount}`;
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    const topics = tb.broker.app.get(TopicsService);
    await topics.create({ state, member: state.byPubkey.get(mesh.owner.publicKey)!, topics: null }, { name, visibility: 'public', description: '', encryption });
    for (const who of Object.values(ids)) await topics.join({ state, member: state.byPubkey.get(who.publicKey)!, topics: null }, name);
    return name;
  };

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'rest-e2e');
    for (const n of ['alice', 'bob', 'carol'] as const) ids[n] = await addMember(tb, mesh, n);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => tb?.close());

  it('lets a WebSocket client and a REST-with-keypair client post to one e2e topic and open each other; the REST client creates epoch 1 and rotates', async () => {
    const topic = await newTopic();
    const scope = topicScope(topic);
    const alice = await wsMember(ids.alice);
    const bob = await restMember(ids.bob);

    // bob posts first, over REST: no epoch yet, so he creates epoch 1 (listing the members with keys) over REST too.
    const first = await topicSendEncrypted(bob.api, bob.ring, topic, 'from REST, hello alice', { members: () => meshMembersWithKeys(bob.api), mentions: [ids.alice.publicKey] });
    expect(first).toMatchObject({ topic, body_version: 2, key_epoch: 1, sender: { member_pubkey: ids.bob.publicKey }, mentions: [ids.alice.publicKey] });
    expect(first.text).toBeUndefined();
    await waitFor(() => alice.got.length === 1, 'alice to get the REST post pushed');
    expect((await openTopicMessages(alice.client, alice.ring, alice.got)).map((m) => m.text)).toEqual(['from REST, hello alice']);

    // alice answers over the WebSocket; bob reads history over REST and opens both.
    await topicSendEncrypted(alice.client, alice.ring, topic, 'from the WebSocket', { members: () => meshMembersWithKeys(alice.client), replyTo: first.id });
    const page = await bob.api.history(topic);
    expect((await openTopicMessages(bob.api, bob.ring, page.messages)).map((m) => [m.sender.member_pubkey, m.text])).toEqual([
      [ids.bob.publicKey, 'from REST, hello alice'],
      [ids.alice.publicKey, 'from the WebSocket'],
    ]);

    // bob rotates over REST; alice's next post is refused as stale, and her SDK syncs and sends again under epoch 2.
    const everyone = [mesh.owner, ids.alice, ids.bob, ids.carol].map((i) => i.publicKey);
    expect(await publishRotation(bob.api, bob.ring, scope, { members: everyone, reason: 'scheduled' })).toBe(2);
    const after = await topicSendEncrypted(alice.client, alice.ring, topic, 'after the REST rotation', { members: () => meshMembersWithKeys(alice.client) });
    expect(after.key_epoch).toBe(2);
    const rotated = await bob.api.history(topic, { after: first.id });
    expect((await openTopicMessages(bob.api, bob.ring, rotated.messages)).map((m) => m.text)).toEqual(['from the WebSocket', 'after the REST rotation']);

    // alice rotates over the WebSocket; bob's REST post under epoch 2 is stale and his SDK catches up to 3.
    await syncEpochs(alice.client, alice.ring, scope);
    expect(await publishRotation(alice.client, alice.ring, scope, { members: everyone, reason: 'scheduled' })).toBe(3);
    const stale = bob.ring.encrypt(scope, 'rest-stale-0001', 'under epoch 2');
    await expect(bob.api.topicSendSealed(topic, 'rest-stale-0001', { key_epoch: stale.epoch, ...stale.message, mentions: [] }))
      .rejects.toMatchObject({ code: 'E_EPOCH_STALE', details: { current_epoch: 3 } });
    const back = await topicSendEncrypted(bob.api, bob.ring, topic, 'caught up over REST', { members: () => meshMembersWithKeys(bob.api) });
    expect(back.key_epoch).toBe(3);
    await waitFor(() => alice.got.length === 2, 'alice to get the post under epoch 3');
    expect(openTopicMessage(alice.ring, alice.got[1]!).text).toBe('caught up over REST');

    // A rotation racing another: bob's keyring is behind, so publishRotation over REST hits E_EPOCH_CONFLICT, syncs and builds on top.
    expect(await publishRotation(alice.client, alice.ring, scope, { members: everyone, reason: 'scheduled' })).toBe(4);
    expect(await publishRotation(bob.api, bob.ring, scope, { members: everyone, reason: 'scheduled' })).toBe(5);

    // Idempotent by client_id, like text: the same sealed body again is the stored message; another body under that id is refused.
    const sealed = bob.ring.encrypt(scope, 'rest-idem-00001', 'once');
    const body = { body_version: 2 as const, client_id: 'rest-idem-00001', key_epoch: sealed.epoch, ...sealed.message, mentions: [] };
    const once = await bob.api.postSealed(topic, body);
    const twice = await bob.api.postSealed(topic, body);
    expect([once.duplicate, twice.duplicate, twice.message.id]).toEqual([false, true, once.message.id]);
    const other = bob.ring.encrypt(scope, 'rest-idem-00001', 'another text');
    await expect(bob.api.postSealed(topic, { ...body, ...other.message })).rejects.toMatchObject({ code: 'E_CONFLICT' });
  });

  it('re-seals over REST: a member left out of a publish is missing until a holder adds its seal', async () => {
    const topic = await newTopic();
    const scope = topicScope(topic);
    const bob = await restMember(ids.bob);
    const carol = await restMember(ids.carol);
    // Every keyed member: what the current epoch of a public topic must list (protocol §5.6).
    const members = everyone();

    const pending = bob.ring.rotate(scope, { members, reason: 'create' });
    await bob.api.publishEpoch(pending.signed, pending.seals.filter((s) => s.recipient !== ids.carol.publicKey));
    bob.ring.accept(scope, pending);
    await topicSendEncrypted(bob.api, bob.ring, topic, 'sealed before carol had a key', { members: async () => members });

    expect((await bob.api.getEpochs(scope)).missing).toEqual([ids.carol.publicKey]);
    const [waiting] = await openTopicMessages(carol.api, carol.ring, (await carol.api.history(topic)).messages);
    expect(waiting).toMatchObject({ text: null, reason: 'waiting for a key from a member' });

    expect(await bob.api.addSeals(scope, 1, bob.ring.resealFor(scope, 1, [ids.carol.publicKey]))).toBe(1);
    // The first seal per recipient stays: sealing again stores nothing.
    expect(await bob.api.addSeals(scope, 1, bob.ring.resealFor(scope, 1, [ids.carol.publicKey]))).toBe(0);
    expect((await bob.api.getEpochs(scope)).missing).toEqual([]);
    await syncEpochs(carol.api, carol.ring, scope);
    expect((await openTopicMessages(carol.api, carol.ring, (await carol.api.history(topic)).messages)).map((m) => m.text)).toEqual(['sealed before carol had a key']);
    expect(cell(await api(tb, bob.key, 'POST', `/topics/${topic}/epochs/9/seals`, { seals: [] }))).toBe('404 E_NOT_FOUND');
  });

  it('checks a REST post and REST epochs exactly as topic_send and the epoch frames, with the same errors', async () => {
    const [topic, plain] = [await newTopic(), await newTopic('plaintext')];
    const scope = topicScope(topic);
    const bob = await restMember(ids.bob);
    const sealedOf = (id: string, text: string) => {
      const s = bob.ring.encrypt(scope, id, text);
      return { body_version: 2, client_id: id, key_epoch: s.epoch, ...s.message, mentions: [] };
    };
    const post = (body: unknown, to = topic) => api<ErrorAnswer>(tb, bob.key, 'POST', `/topics/${to}/messages`, body);

    // No epoch yet: stale, with current_epoch 0 in the body.
    const none = await post({ body_version: 2, client_id: 'rest-check-0001', key_epoch: 1, nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(24), sig: 'A'.repeat(86) });
    expect([cell(none), none.body.error.current_epoch]).toEqual(['409 E_EPOCH_STALE', 0]);
    await publishRotation(bob.api, bob.ring, scope, { members: everyone(), reason: 'create' });

    // Signed for another id, or under another epoch's number: E_MESSAGE_INVALID; the right one is stored.
    expect(cell(await post({ ...sealedOf('rest-check-0002', 'x'), client_id: 'rest-check-0003' }))).toBe('400 E_MESSAGE_INVALID');
    const wrongEpoch = await post({ ...sealedOf('rest-check-0004', 'x'), key_epoch: 2 });
    expect([cell(wrongEpoch), wrongEpoch.body.error.current_epoch]).toEqual(['409 E_EPOCH_STALE', 1]);
    expect(cell(await post(sealedOf('rest-check-0005', 'fine')))).toBe('201');
    // A sealed body to a plaintext topic, text to an e2e topic: E_TOPIC_MODE.
    expect(cell(await post(sealedOf('rest-check-0006', 'x'), plain))).toBe('400 E_TOPIC_MODE');
    const text = await post({ text: 'plain words' });
    expect([cell(text), text.body.error.message]).toEqual(['400 E_TOPIC_MODE', expect.stringMatching(/body_version 2/)]);
    // The shape, as topic_send's: client_id required, never text with version 2, at most 100 mentions.
    for (const bad of [
      (() => { const { client_id: _, ...rest } = sealedOf('rest-check-0007', 'x'); return rest; })(),
      { ...sealedOf('rest-check-0008', 'x'), text: 'both' },
      { ...sealedOf('rest-check-0009', 'x'), mentions: Array(101).fill(ids.alice.publicKey) },
      { ...sealedOf('rest-check-0010', 'x'), body_version: 3 },
    ]) expect(cell(await post(bad)), JSON.stringify(Object.keys(bad))).toBe('400 E_SCHEMA');

    // Epochs: the manifest must be for this topic, follow the current epoch, and be the caller's.
    const next = bob.ring.rotate(scope, { members: [ids.bob.publicKey], reason: 'scheduled' });
    const other = await newTopic();
    const misplaced = await api<ErrorAnswer>(tb, bob.key, 'POST', `/topics/${other}/epochs`, { manifest: next.signed, seals: next.seals });
    expect(cell(misplaced)).toBe('400 E_EPOCH_INVALID');
    await publishRotation(bob.api, bob.ring, scope, { members: [ids.bob.publicKey], reason: 'scheduled' });
    const conflict = await api<ErrorAnswer>(tb, bob.key, 'POST', `/topics/${topic}/epochs`, { manifest: next.signed, seals: next.seals });
    expect([cell(conflict), conflict.body.error.current_epoch]).toEqual(['409 E_EPOCH_CONFLICT', 2]);
    const carol = await restMember(ids.carol);
    const byBob = bob.ring.rotate(scope, { members: [ids.bob.publicKey], reason: 'scheduled' });
    expect(cell(await api(tb, carol.key, 'POST', `/topics/${topic}/epochs`, { manifest: byBob.signed, seals: [] }))).toBe('403 E_FORBIDDEN');
    expect(cell(await api(tb, carol.key, 'POST', `/topics/${topic}/epochs`, { manifest: byBob.signed, seals: [], extra: 1 }))).toBe('400 E_SCHEMA');
    const reader = await restMember(ids.bob, ['read']);
    expect(cell(await api(tb, reader.key, 'POST', `/topics/${topic}/epochs`, { manifest: byBob.signed, seals: byBob.seals }))).toBe('403 E_FORBIDDEN');
    expect(cell(await api(tb, bob.key, 'POST', `/topics/${topic}/epochs/0/seals`, { seals: [] }))).toBe('400 E_SCHEMA');
    // A topic-scoped key reaches only its topics.
    const scoped = (await issueKey(tb, mesh, ids.bob, { label: 'scoped', capabilities: ['read', 'send'], topics: [other] })).secret;
    expect(cell(await api(tb, scoped, 'POST', `/topics/${topic}/epochs`, { manifest: byBob.signed, seals: byBob.seals }))).toBe('403 E_FORBIDDEN');
    expect(cell(await api(tb, scoped, 'POST', `/topics/${topic}/epochs/1/seals`, { seals: [] }))).toBe('403 E_FORBIDDEN');
    expect(cell(await api(tb, bob.key, 'POST', `/topics/${topic}/epochs`, { manifest: byBob.signed, seals: byBob.seals }))).toBe('201');
  });

  it('tells a REST-only human it cannot post to an e2e topic, publish or seal; it reads the ciphertext only', async () => {
    const topic = await newTopic();
    const alice = await wsMember(ids.alice);
    await topicSendEncrypted(alice.client, alice.ring, topic, 'not for the human', { members: () => meshMembersWithKeys(alice.client) });
    const human = (await issueKey(tb, mesh, mesh.owner, { label: 'hank', capabilities: ['read', 'send'], human: `hank-${kind}` })).secret;

    const text = await api<ErrorAnswer>(tb, human, 'POST', `/topics/${topic}/messages`, { text: 'can I post?' });
    expect([cell(text), text.body.error.message]).toEqual(['400 E_TOPIC_MODE', expect.stringMatching(/REST-only member without a keypair: it can read .* as ciphertext only/)]);
    const sealed = await api<ErrorAnswer>(tb, human, 'POST', `/topics/${topic}/messages`, {
      body_version: 2, client_id: 'human-sealed-01', key_epoch: 1, nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(24), sig: 'A'.repeat(86),
    });
    expect(cell(sealed)).toBe('400 E_TOPIC_MODE');

    const history = await api<{ messages: TopicMessage[] }>(tb, human, 'GET', `/topics/${topic}/messages`);
    expect(history.body.messages).toHaveLength(1);
    expect(history.body.messages[0]).toMatchObject({ body_version: 2, key_epoch: 1, ciphertext: expect.any(String), sig: expect.any(String) });
    expect(history.body.messages[0]!.text).toBeUndefined();
    expect(JSON.stringify(history.body)).not.toContain('not for the human');
    const epochs = await api<{ manifests: unknown[]; seals: unknown[]; missing?: unknown }>(tb, human, 'GET', `/topics/${topic}/epochs`);
    expect([epochs.body.manifests.length, epochs.body.seals, epochs.body.missing]).toEqual([1, [], undefined]);

    const manifest = alice.ring.rotate(topicScope(topic), { members: [ids.alice.publicKey], reason: 'scheduled' });
    const publish = await api<ErrorAnswer>(tb, human, 'POST', `/topics/${topic}/epochs`, { manifest: manifest.signed, seals: [] });
    expect([cell(publish), publish.body.error.message]).toEqual(['403 E_FORBIDDEN', expect.stringMatching(/REST-only member without a keypair: it cannot publish or seal/)]);
    expect(cell(await api(tb, human, 'POST', `/topics/${topic}/epochs/1/seals`, { seals: [] }))).toBe('403 E_FORBIDDEN');
  });

  it('counts each REST epoch request as its frame in the member’s costly-frame rate: 429 with retry_after_ms beyond', async () => {
    const limited = await startTestBroker(kind, { CLAUDEMESH_WS_MEMBER_COSTLY_PER_S: '1' });
    try {
      const m = await createTestMesh(limited, 'rest-e2e-rate');
      const key = (await issueKey(limited, m, m.owner, { label: 'rate', capabilities: ['read', 'send'] })).secret;
      // A burst of two, refilled at one a second: a tight loop meets the limit without timing anything.
      const answers: Array<Answer<ErrorAnswer>> = [];
      while (answers.length < 50 && answers.every((a) => a.status === 200)) answers.push(await api<ErrorAnswer>(limited, key, 'GET', '/topics/general/epochs'));
      const refused = answers.at(-1)!;
      expect(cell(refused)).toBe('429 E_RATE_LIMITED');
      expect(refused.body.error).toMatchObject({ retry_after_ms: expect.any(Number), message: expect.stringMatching(/rate of epoch requests/) });
    } finally {
      await limited.close();
    }
  });
});
