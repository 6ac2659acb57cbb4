import { ProtocolError, SERVER_FRAME_SCHEMAS, type MeshClient, type TopicMessage } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { ApiKeysService } from '../src/apikeys/api-keys.service.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { PresenceService } from '../src/presence/presence.service.js';
import { TopicsService, type TopicScope } from '../src/topics/topics.service.js';
import { api } from './bearer-api.js';
import { buildHello } from './hello-frames.js';

/** Topic messages over the WebSocket (docs/protocol.md §5 topic_send / topic_message / topic_history). */
describe.each(dbKinds())('topic messages over WebSocket on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let topics: TopicsService;
  const ids = {} as Record<'alice' | 'bob' | 'carol', Identity>;
  const scope = {} as Record<'owner' | 'alice' | 'bob' | 'carol', TopicScope>;
  const open: MeshClient[] = [];

  /** A connected client and every topic message it emits. */
  const connect = async (who: Identity): Promise<{ client: MeshClient; got: TopicMessage[] }> => {
    const got: TopicMessage[] = [];
    const client = await connectClient(tb, mesh, who);
    client.on('topic', (m) => got.push(m));
    open.push(client);
    return { client, got };
  };
  const texts = (got: TopicMessage[]): string[] => got.map((m) => m.text ?? '');
  const quiet = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'topics-ws');
    ids.alice = await addMember(tb, mesh, 'alice');
    ids.bob = await addMember(tb, mesh, 'bob');
    ids.carol = await addMember(tb, mesh, 'carol');
    topics = tb.broker.app.get(TopicsService);
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    scope.owner = { state, member: state.byPubkey.get(mesh.owner.publicKey)!, topics: null };
    for (const who of ['alice', 'bob', 'carol'] as const) scope[who] = { state, member: state.byPubkey.get(ids[who].publicKey)!, topics: null };
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => tb?.close());

  it("delivers each member's topic_send live to the other, and never to the sender's own sibling session", async () => {
    const alice = await connect(ids.alice);
    const aliceSibling = await connect(ids.alice);
    const bob = await connect(ids.bob);
    const sent = await alice.client.topicSend('general', 'hello from alice');
    expect(sent).toMatchObject({ topic: 'general', text: 'hello from alice', sender: { member_pubkey: ids.alice.publicKey, display_name: 'alice' } });
    await bob.client.topicSend('general', 'hello from bob');
    await waitFor(() => bob.got.length === 1 && alice.got.length === 1 && aliceSibling.got.length === 1, 'each side to get the other');
    expect(texts(bob.got)).toEqual(['hello from alice']);
    expect(bob.got[0]!.id).toBe(sent.id);
    expect(texts(alice.got)).toEqual(['hello from bob']);
    await quiet();
    expect(texts(aliceSibling.got)).toEqual(['hello from bob']);
  });

  it('pushes a message posted over REST to the WebSocket members of the topic', async () => {
    const alice = await connect(ids.alice);
    const bob = await connect(ids.bob);
    const key = await tb.broker.app.get(ApiKeysService).create(scope.owner.state, scope.owner.member, { label: 'bot', capabilities: ['read', 'send'] });
    const posted = await api<{ message: TopicMessage }>(tb, key.secret, 'POST', '/topics/general/messages', { text: 'deploy done' });
    expect(posted.status).toBe(201);
    await waitFor(() => alice.got.length === 1 && bob.got.length === 1, 'the REST post to arrive on both');
    for (const got of [alice.got, bob.got]) expect(got[0]).toMatchObject({ id: posted.body.message.id, text: 'deploy done', sender: { display_name: 'owner' } });
  });

  it('refuses a private topic to a non-member, and pushes it only to its members', async () => {
    await topics.create(scope.owner, { name: 'secret', visibility: 'private', description: '', encryption: 'plaintext' });
    await topics.addMember(scope.owner, 'secret', 'alice');
    const alice = await connect(ids.alice);
    const bob = await connect(ids.bob);
    await expect(bob.client.topicSend('secret', 'let me in')).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(bob.client.topicHistory('secret')).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(bob.client.topicSend('nowhere', 'hi')).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    const general = await topics.post(scope.owner, 'general', { text: 'not a secret' });
    const wrongThread = alice.client.topicSend('secret', 'wrong thread', { replyTo: general.message.id });
    await expect(wrongThread).rejects.toBeInstanceOf(ProtocolError);
    await expect(wrongThread).rejects.toMatchObject({ code: 'E_SCHEMA' });
    await alice.client.topicSend('secret', 'for members only');
    await topics.post(scope.owner, 'secret', { text: 'owner to secret' });
    await waitFor(() => alice.got.some((m) => m.text === 'owner to secret'), 'alice to get the private post');
    await quiet();
    expect(bob.got.filter((m) => m.topic === 'secret')).toEqual([]);
    expect((await alice.client.topicHistory('secret')).messages.map((m) => m.text)).toEqual(['for members only', 'owner to secret']);
  });

  it('acks a retry of the same client id with the stored message and duplicate: true, pushing it once', async () => {
    const bob = await connect(ids.bob);
    const peer = await RawPeer.connect(tb.wsUrl);
    peer.send(buildHello(mesh.meshId, ids.carol, peer.challenge));
    await peer.next('hello_ack');
    const frame = { type: 'topic_send', id: 'carol-retry-0001', topic: 'general', text: 'said once' };
    peer.send(frame);
    const first = SERVER_FRAME_SCHEMAS.topic_ack.parse(await peer.next('topic_ack'));
    peer.send(frame);
    const second = SERVER_FRAME_SCHEMAS.topic_ack.parse(await peer.next('topic_ack'));
    expect([first.duplicate, second.duplicate]).toEqual([false, true]);
    expect(second.message).toEqual(first.message);
    peer.send({ ...frame, text: 'said otherwise' });
    expect(await peer.next('error')).toMatchObject({ code: 'E_CONFLICT', ref: 'carol-retry-0001' });
    peer.send({ type: 'topic_send', id: 'carol-bad-reply', topic: 'general', text: 'x', reply_to: '999999999' });
    expect(await peer.next('error')).toMatchObject({ code: 'E_SCHEMA', ref: 'carol-bad-reply' });
    await waitFor(() => bob.got.some((m) => m.text === 'said once'), 'bob to get carol');
    await quiet();
    expect(bob.got.filter((m) => m.client_id === 'carol-retry-0001')).toHaveLength(1);
    // The SDK retries under its client id the same way: the same message comes back.
    const again = await bob.client.topicSend('general', 'sdk retry', { id: 'bob-retry-00001' });
    expect(await bob.client.topicSend('general', 'sdk retry', { id: 'bob-retry-00001' })).toEqual(again);
    peer.close();
  });

  it('catches up after a reconnect from the history: nothing missed, nothing twice, in order', async () => {
    const bob = await connect(ids.bob);
    await topics.post(scope.alice, 'general', { text: 'before the drop' });
    await waitFor(() => bob.got.some((m) => m.text === 'before the drop'), 'the first message');
    const reconnected = new Promise((resolve) => bob.client.once('connected', resolve));
    // The broker side drops bob's connection; what is posted meanwhile reaches no session of his.
    for (const s of tb.broker.app.get(PresenceService).sessionsOf(scope.bob.member.id)) s.ws.terminate();
    await waitFor(() => !bob.client.connected, 'bob to notice the drop');
    const missed: string[] = [];
    for (let i = 0; i < 5; i++) missed.push((await topics.post(i % 2 ? scope.carol : scope.alice, 'general', { text: `missed ${i}` })).message.id);
    // A topic_send made while offline waits and goes out under its id after the reconnect.
    const offlineSend = bob.client.topicSend('general', 'sent while offline');
    await reconnected;
    expect(await offlineSend).toMatchObject({ text: 'sent while offline', sender: { display_name: 'bob' } });
    await topics.post(scope.alice, 'general', { text: 'after the reconnect' });
    await waitFor(() => bob.got.some((m) => m.text === 'after the reconnect'), 'the live message after the catch-up');
    await quiet();
    const from = bob.got.findIndex((m) => m.text === 'before the drop');
    expect(texts(bob.got.slice(from))).toEqual(['before the drop', 'missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4', 'after the reconnect']);
    expect(bob.got.slice(from + 1, from + 6).map((m) => m.id)).toEqual(missed);
    expect(bob.client.topicCursor('general')).toBe(bob.got.at(-1)!.id);
  });

  it('pages a topic history with topic_history (before / after / limit)', async () => {
    const bob = await connect(ids.bob);
    const page = await bob.client.topicHistory('general', { limit: 2 });
    expect(page.messages).toHaveLength(2);
    expect(page.has_more).toBe(true);
    const older = await bob.client.topicHistory('general', { before: page.messages[0]!.id, limit: 200 });
    const newer = await bob.client.topicHistory('general', { after: older.messages[0]!.id, limit: 200 });
    expect(newer.messages.map((m) => m.id)).toEqual([...older.messages.slice(1), ...page.messages].map((m) => m.id));
    expect(newer.has_more).toBe(false);
    // Ids the wire pattern allows beyond the bigint sequence name no message.
    expect(await bob.client.topicHistory('general', { after: '9999999999999999999' })).toEqual({ messages: [], has_more: false });
    expect((await bob.client.topicHistory('general', { before: '9999999999999999999', limit: 2 })).messages).toEqual(page.messages);
    await expect(bob.client.topicSend('general', 'x', { replyTo: '9999999999999999999' })).rejects.toMatchObject({ code: 'E_SCHEMA' });
  });
});
