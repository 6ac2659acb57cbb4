import type { TopicMessage } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { ApiKeysService } from '../src/apikeys/api-keys.service.js';
import { BUS, topicChannel, type Bus } from '../src/bus/bus.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { NotificationsService } from '../src/topics/notifications.service.js';
import { TopicsService, type TopicScope } from '../src/topics/topics.service.js';

/** The topic and API-key services against both databases: the SQL, the rules, the bus. */
describe.each(dbKinds())('topics and API keys (services) on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let topics: TopicsService;
  let notes: NotificationsService;
  let keys: ApiKeysService;
  const scope = {} as Record<'owner' | 'alice' | 'bob', TopicScope>;
  const ids = {} as Record<'alice' | 'bob', Identity>;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'topics');
    ids.alice = await addMember(tb, mesh, 'alice');
    ids.bob = await addMember(tb, mesh, 'bob');
    topics = tb.broker.app.get(TopicsService);
    notes = tb.broker.app.get(NotificationsService);
    keys = tb.broker.app.get(ApiKeysService);
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    scope.owner = { state, member: state.byPubkey.get(mesh.owner.publicKey)!, topics: null };
    scope.alice = { state, member: state.byPubkey.get(ids.alice.publicKey)!, topics: null };
    scope.bob = { state, member: state.byPubkey.get(ids.bob.publicKey)!, topics: null };
  });
  afterAll(async () => tb?.close());

  it('gives every mesh #general with every member in it', async () => {
    const list = await topics.list(scope.bob);
    expect(list.map((t) => [t.name, t.joined, t.members])).toEqual([['general', true, 3]]);
  });

  it('posts, pages history both ways, threads replies within the topic, and is idempotent by client id', async () => {
    const seen: TopicMessage[] = [];
    const t = await topics.resolve(scope.alice, 'general');
    const unsubscribe = tb.broker.app.get<Bus>(BUS).subscribe(topicChannel(t.id), (e) => e.kind === 'topic' && seen.push(e.message));
    const posted: TopicMessage[] = [];
    for (let i = 1; i <= 5; i++) posted.push((await topics.post(scope.alice, 'general', { text: `hello ${i}` })).message);
    unsubscribe();
    expect(seen.map((m) => m.text)).toEqual(['hello 1', 'hello 2', 'hello 3', 'hello 4', 'hello 5']);
    const last = await topics.history(scope.bob, 'general', { limit: 2 });
    expect(last.messages.map((m) => m.text)).toEqual(['hello 4', 'hello 5']);
    expect(last.has_more).toBe(true);
    const before = await topics.history(scope.bob, 'general', { limit: 10, before: last.messages[0]!.id });
    expect(before.messages.map((m) => m.text)).toEqual(['hello 1', 'hello 2', 'hello 3']);
    const after = await topics.history(scope.bob, 'general', { limit: 10, after: posted[2]!.id });
    expect(after.messages.map((m) => m.text)).toEqual(['hello 4', 'hello 5']);

    const reply = await topics.post(scope.bob, 'general', { text: 'answer to 2', reply_to: posted[1]!.id, client_id: 'bob-reply-0001' });
    expect(reply.message).toMatchObject({ reply_to: posted[1]!.id, body_version: 1, sender: { display_name: 'bob', peer_type: 'ai' } });
    const again = await topics.post(scope.bob, 'general', { text: 'answer to 2', reply_to: posted[1]!.id, client_id: 'bob-reply-0001' });
    expect(again).toMatchObject({ duplicate: true, message: { id: reply.message.id } });
    await expect(topics.post(scope.bob, 'general', { text: 'different', client_id: 'bob-reply-0001' })).rejects.toMatchObject({ code: 'E_CONFLICT' });

    await topics.create(scope.owner, { name: 'ops', visibility: 'public', description: '', encryption: 'plaintext' });
    const elsewhere = (await topics.post(scope.owner, 'ops', { text: 'in ops' })).message;
    await expect(topics.post(scope.bob, 'general', { text: 'cross-topic reply', reply_to: elsewhere.id })).rejects.toMatchObject({ code: 'E_SCHEMA' });
  });

  it('records mentions and replies at write time, for members who may read the topic', async () => {
    const m = (await topics.post(scope.alice, 'general', { text: '@bob can you look? cc @owner, not a@mail.example' })).message;
    expect(m.mentions.sort()).toEqual([ids.bob.publicKey, mesh.owner.publicKey].sort());
    const bobs = await notes.list(scope.bob, { limit: 50 });
    expect(bobs.map((n) => [n.kind, n.actor.display_name, n.topic])).toContainEqual(['mention', 'alice', 'general']);
    const alices = await notes.list(scope.alice, { limit: 50 });
    expect(alices.map((n) => [n.kind, n.actor.display_name])).toContainEqual(['reply', 'bob']);
    expect((await notes.markRead(scope.bob)).marked).toBeGreaterThan(0);
    expect(await notes.list(scope.bob, { limit: 50, unread: 'true' })).toEqual([]);
  });

  it('keeps private topics to their members: no join, no read, no mention of outsiders', async () => {
    await topics.create(scope.alice, { name: 'secret', visibility: 'private', description: 'alice only', encryption: 'plaintext' });
    expect((await topics.list(scope.bob)).map((t) => t.name)).not.toContain('secret');
    await expect(topics.join(scope.bob, 'secret')).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(topics.history(scope.bob, 'secret', { limit: 5 })).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    const m = (await topics.post(scope.alice, 'secret', { text: 'hey @bob' })).message;
    expect(m.mentions).toEqual([]);
    await topics.addMember(scope.alice, 'secret', 'bob');
    expect((await topics.history(scope.bob, 'secret', { limit: 5 })).messages.map((x) => x.text)).toEqual(['hey @bob']);
  });

  it('counts unread per member and moves the read mark forward only', async () => {
    const before = (await topics.list(scope.bob)).find((t) => t.name === 'general')!;
    expect(before.unread).toBeGreaterThan(0);
    const marked = await topics.markRead(scope.bob, 'general', {});
    expect(marked.unread).toBe(0);
    await topics.markRead(scope.bob, 'general', { message_id: '1' });
    expect((await topics.list(scope.bob)).find((t) => t.name === 'general')!.unread).toBe(0);
    await topics.post(scope.alice, 'general', { text: 'one more' });
    expect((await topics.list(scope.bob)).find((t) => t.name === 'general')!.unread).toBe(1);
    // A mark past the newest message (or past the id range) marks what exists, never the future.
    for (const far of ['999999999', '99999999999999999999']) {
      await topics.markRead(scope.bob, 'general', { message_id: far });
      await topics.post(scope.alice, 'general', { text: `after a far mark ${far}` });
      expect((await topics.list(scope.bob)).find((t) => t.name === 'general')!.unread).toBe(1);
    }
  });

  it('searches full text within what the caller may read', async () => {
    await topics.post(scope.alice, 'general', { text: 'the deployment pipeline is green' });
    await topics.post(scope.alice, 'secret', { text: 'secret deployment codes' });
    const hits = await topics.search({ ...scope.owner }, { q: 'deployment', limit: 20 });
    expect(hits.map((h) => h.text)).toEqual(['the deployment pipeline is green']);
    const bobHits = await topics.search(scope.bob, { q: 'deployment', limit: 20 });
    expect(bobHits.map((h) => h.topic).sort()).toEqual(['general', 'secret']);
    const scoped = await topics.search({ ...scope.bob, topics: new Set(['secret']) }, { q: 'deployment', limit: 20 });
    expect(scoped.map((h) => h.topic)).toEqual(['secret']);
  });

  it('issues keys shown once, stored as a hash, looked up by prefix, revoked at once', async () => {
    const created = await keys.create(scope.alice.state, scope.alice.member, { label: 'ci', capabilities: ['read'], topics: ['general'] });
    expect(created.secret).toMatch(/^cmk_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    const stored = (await tb.broker.app.get(DataSource).query('SELECT secret_sha256 FROM api_keys WHERE id = $1', [created.id])) as Array<{ secret_sha256: string }>;
    expect(stored[0]!.secret_sha256).not.toContain(created.secret.slice('cmk_'.length + 17));
    const caller = await keys.authenticate(`Bearer ${created.secret}`);
    expect([caller.member.displayName, [...caller.capabilities], [...caller.topics!]]).toEqual(['alice', ['read'], ['general']]);
    const last = created.secret.slice(-1);
    await expect(keys.authenticate(`Bearer ${created.secret.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`)).rejects.toMatchObject({ code: 'E_UNAUTHORIZED' });
    await expect(keys.authenticate('Bearer nope')).rejects.toMatchObject({ code: 'E_UNAUTHORIZED', message: expect.stringMatching(/malformed/) });
    await keys.revoke(scope.alice.state, scope.alice.member, created.id);
    await expect(keys.authenticate(`Bearer ${created.secret}`)).rejects.toMatchObject({ code: 'E_UNAUTHORIZED', message: expect.stringMatching(/revoked/) });
    await expect(keys.create(scope.bob.state, scope.bob.member, { label: '', capabilities: ['admin'] })).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
  });

  it('enrols a REST-only human with a key, present for 5 minutes after use, in #general, never a DM target', async () => {
    const created = await keys.create(scope.owner.state, scope.owner.member, { label: 'dana', capabilities: ['read', 'send'], human: 'dana' });
    expect(created.display_name).toBe('dana');
    const dana = await keys.authenticate(`Bearer ${created.secret}`);
    expect([dana.member.peerType, dana.member.restOnly]).toEqual(['human', true]);
    expect((await keys.restActivity(mesh.meshId)).has(dana.member.id)).toBe(true);
    expect((await keys.restActivity(mesh.meshId, Date.now() + 6 * 60_000)).has(dana.member.id)).toBe(false);
    // WebSocket peers see her next to the sessions: present over REST, no session of her own.
    const alice = await connectClient(tb, mesh, ids.alice);
    try {
      const seen = (await alice.listPeers()).find((p) => p.display_name === 'dana')!;
      expect(seen).toMatchObject({ peer_type: 'human', online: true, rest_active: true, sessions: [] });
      expect((await alice.listPeers()).find((p) => p.display_name === 'bob')).not.toHaveProperty('rest_active');
    } finally {
      await alice.close();
    }
    const posted = await topics.post({ state: dana.state, member: dana.member, topics: null }, 'general', { text: 'hi from curl' });
    expect(posted.message.sender).toMatchObject({ display_name: 'dana', peer_type: 'human' });
    await expect(keys.create(scope.alice.state, scope.alice.member, { label: '', capabilities: ['read'], human: 'eve' })).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
  });
});
