import { EpochKeyring, meshMembersWithKeys, newClientId, syncEpochs, topicSendEncrypted, type MeshClient, type TopicMessage, type TopicPostResult } from '@claudemesh/core';
import { topicScope } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';
import { api, issueKey } from './bearer-api.js';

/**
 * Posts to one topic commit in batches (TopicWriter.commitPosts): many posts in flight at once,
 * from several members, with a repeated client id and a post that refers to no message among
 * them. Each answer is its own, ids follow one order, and nothing is stored twice or lost.
 */
describe.each(dbKinds())('topic posts committed together on %s', (kind) => {
  let tb: TestBroker;
  beforeAll(async () => {
    tb = await startTestBroker(kind);
  });
  afterAll(async () => tb?.close());

  it('answers each post of a batch on its own: stored, duplicate of its twin, or refused', async () => {
    const mesh = await createTestMesh(tb, 'batched');
    const keys = await Promise.all(['ann', 'ben', 'cy'].map(async (n) => (await issueKey(tb, mesh, await addMember(tb, mesh, n), { label: n, capabilities: ['read', 'send'] })).secret));
    type Posted = { status: number; body: { message?: TopicMessage; duplicate?: boolean; error?: { code: string } } };
    const post = (key: string, body: Record<string, unknown>) => api(tb, key, 'POST', '/topics/general/messages', body) as Promise<Posted>;
    const posts: Array<Promise<Posted>> = [];
    for (let i = 0; i < 60; i++) posts.push(post(keys[i % 3]!, { text: `m${i}`, client_id: `batched-cid-${i}` }));
    // The same client id twice in flight, and a reply to a message that does not exist.
    posts.push(post(keys[0]!, { text: 'twin', client_id: 'twin-post-1' }), post(keys[0]!, { text: 'twin', client_id: 'twin-post-1' }));
    posts.push(post(keys[1]!, { text: 'orphan', client_id: 'orphan-post-1', reply_to: '999999999' }));
    const answers = await Promise.all(posts);

    for (const a of answers.slice(0, 60)) expect([a.status, a.body.duplicate]).toEqual([201, false]);
    const [t1, t2, orphan] = answers.slice(60);
    expect([t1!.status, t2!.status]).toEqual([201, 201]);
    expect([t1!.body.duplicate, t2!.body.duplicate].sort()).toEqual([false, true]);
    expect(t1!.body.message!.id).toBe(t2!.body.message!.id);
    expect([orphan!.status, orphan!.body.error?.code]).toEqual([400, 'E_SCHEMA']);

    const history = (await api<{ messages: TopicMessage[] }>(tb, keys[0]!, 'GET', '/topics/general/messages?after=0&limit=200')).body.messages;
    expect(history.map((m) => m.text).sort()).toEqual([...Array.from({ length: 60 }, (_, i) => `m${i}`), 'twin'].sort());
    const ids = history.map((m) => BigInt(m.id));
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    // Each answer names the row that was stored for it.
    const byText = new Map(history.map((m) => [m.text, m.id]));
    for (const [i, a] of answers.slice(0, 60).entries()) expect(a.body.message!.id).toBe(byText.get(`m${i}`));
  });

  it('commits sealed posts of several members in one statement a batch: each answered with its own row, a twin as a duplicate, ids in order', async () => {
    const mesh = await createTestMesh(tb, 'sealed-batched');
    const people = await Promise.all(['ann', 'ben', 'cy'].map((n) => addMember(tb, mesh, n)));
    const clients: MeshClient[] = await Promise.all(people.map((p) => connectClient(tb, mesh, p)));
    const twinClient = await connectClient(tb, mesh, people[0]!);
    try {
      const rings = people.map((me) => new EpochKeyring({ me, meshId: mesh.meshId, authorities: (_s, epoch) => (epoch === 1 ? [people[0]!.publicKey] : []) }));
      const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
      await tb.broker.app.get(TopicsService).create({ state, member: state.byPubkey.get(people[0]!.publicKey)!, topics: null }, { name: 'sealed', visibility: 'public', description: '', encryption: 'e2e' });
      const scope = topicScope('sealed');
      // Epoch 1 by ann; ben and cy join the topic with a post each (a sender in the topic already takes the one-statement path).
      await topicSendEncrypted(clients[0]!, rings[0]!, 'sealed', 'epoch 1', { members: () => meshMembersWithKeys(clients[0]!) });
      for (const i of [1, 2]) {
        await syncEpochs(clients[i]!, rings[i]!, scope);
        await topicSendEncrypted(clients[i]!, rings[i]!, 'sealed', `joined ${i}`, { members: () => meshMembersWithKeys(clients[i]!) });
      }
      const sealedPost = (i: number, id: string, text: string): { send: (c: MeshClient) => Promise<TopicPostResult> } => {
        const { epoch, message } = rings[i]!.encrypt(scope, id, text);
        return { send: (c) => c.topicSendSealed('sealed', id, { key_epoch: epoch, ...message, mentions: [] }) };
      };
      const ids = Array.from({ length: 60 }, () => newClientId());
      const posts = ids.map((id, n) => sealedPost(n % 3, id, `s${n}`).send(clients[n % 3]!));
      // The same sealed post (same id, same bytes) from two connections of ann's, in flight together.
      const twinId = newClientId();
      const twin = sealedPost(0, twinId, 'twin');
      const [answers, t1, t2] = await Promise.all([Promise.all(posts), twin.send(clients[0]!), twin.send(twinClient)]);
      for (const a of answers) expect(a.duplicate).toBe(false);
      expect([t1.duplicate, t2.duplicate].sort()).toEqual([false, true]);
      expect(t1.message.id).toBe(t2.message.id);

      const history = (await clients[0]!.topicHistory('sealed', { after: '0', limit: 200 })).messages;
      expect(history).toHaveLength(3 + 60 + 1);
      const order = history.map((m) => BigInt(m.id));
      expect(order.every((id, i) => i === 0 || id > order[i - 1]!)).toBe(true);
      // Each answer names the row stored for it: same id, same client id, same bytes.
      const byClient = new Map(history.map((m) => [m.client_id, m]));
      for (const [n, a] of answers.entries()) {
        const stored = byClient.get(ids[n]!)!;
        expect([a.message.id, a.message.ciphertext, a.message.key_epoch, a.message.created_at]).toEqual([stored.id, stored.ciphertext, 1, stored.created_at]);
      }
    } finally {
      await Promise.all([...clients, twinClient].map((c) => c.close()));
    }
  });
});
