import type { MemberPresence, MeInfo, Notification, TopicInfo, TopicMember, TopicMessage } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { api, issueKey } from './bearer-api.js';

/**
 * The REST `/api/v1` surface as a person with only `fetch` and an API key uses it (docs/topics.md):
 * topics, posting, history, read marks, search, notifications, and who is present.
 */
describe.each(dbKinds())('REST /api/v1 with an API key on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  /** dana: a REST-only human, enrolled by the owner with her key. alice: a member using a key of her own. */
  let dana: string;
  let aliceKey: string;
  let posted: TopicMessage;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'rest');
    alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    dana = (await issueKey(tb, mesh, mesh.owner, { label: 'dana laptop', capabilities: ['read', 'send'], human: 'dana' })).secret;
    aliceKey = (await issueKey(tb, mesh, alice, { label: 'alice script', capabilities: ['read', 'send'] })).secret;
  });
  afterAll(async () => tb?.close());

  it('tells a key who it acts as', async () => {
    const me = await api<MeInfo>(tb, dana, 'GET', '/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ mesh_id: mesh.meshId, mesh_name: 'rest', member: { display_name: 'dana', peer_type: 'human', role: 'member' }, key: { capabilities: ['read', 'send'], topics: null, expires_at: null } });
  });

  it('lists #general, joined by the REST-only human, and counts what she has not read', async () => {
    const before = await api<TopicInfo[]>(tb, dana, 'GET', '/topics');
    expect(before.body.map((t) => [t.name, t.joined, t.unread])).toEqual([['general', true, 0]]);
    const sent = await api<{ message: TopicMessage; duplicate: boolean }>(tb, aliceKey, 'POST', '/topics/general/messages', { text: 'hi @dana, the deploy notes are in #ops' });
    expect(sent.status).toBe(201);
    posted = sent.body.message;
    expect(posted.mentions).toHaveLength(1);
    expect(posted.sender).toMatchObject({ display_name: 'alice', peer_type: 'ai' });
    const after = await api<TopicInfo[]>(tb, dana, 'GET', '/topics');
    expect(after.body.find((t) => t.name === 'general')).toMatchObject({ unread: 1, last_message_id: posted.id });
  });

  it('reads history, marks it read (unread goes down), and replies idempotently', async () => {
    const page = await api<{ messages: TopicMessage[]; has_more: boolean }>(tb, dana, 'GET', '/topics/general/messages?limit=10');
    expect(page.status).toBe(200);
    expect(page.body.messages.map((m) => m.text)).toEqual(['hi @dana, the deploy notes are in #ops']);
    expect(page.body.has_more).toBe(false);

    const marked = await api<{ topic: string; last_read_id: string; unread: number }>(tb, dana, 'PATCH', '/topics/general/read');
    expect(marked.body).toEqual({ topic: 'general', last_read_id: posted.id, unread: 0 });
    expect((await api<TopicInfo[]>(tb, dana, 'GET', '/topics')).body[0]!.unread).toBe(0);

    const reply = { topic: 'general', text: 'on it', reply_to: posted.id, client_id: 'dana-reply-0001' };
    const first = await api<{ message: TopicMessage; duplicate: boolean }>(tb, dana, 'POST', '/messages', reply);
    const again = await api<{ message: TopicMessage; duplicate: boolean }>(tb, dana, 'POST', '/messages', reply);
    expect([first.status, first.body.duplicate, again.body.duplicate, again.body.message.id]).toEqual([201, false, true, first.body.message.id]);
    expect(first.body.message.sender).toMatchObject({ display_name: 'dana', peer_type: 'human' });
    const conflict = await api(tb, dana, 'POST', '/messages', { ...reply, text: 'something else' });
    expect(conflict).toMatchObject({ status: 409, body: { error: { code: 'E_CONFLICT' } } });

    const caughtUp = await api<{ messages: TopicMessage[] }>(tb, aliceKey, 'GET', `/messages?topic=general&after=${posted.id}`);
    expect(caughtUp.body.messages.map((m) => [m.text, m.reply_to])).toEqual([['on it', posted.id]]);
    // alice's own message never counts as unread for her; dana's reply does, once (the retry stored nothing).
    expect((await api<TopicInfo[]>(tb, aliceKey, 'GET', '/topics')).body[0]!.unread).toBe(1);
  });

  it('searches what the key may read', async () => {
    const hits = await api<TopicMessage[]>(tb, dana, 'GET', `/search?q=${encodeURIComponent('deploy notes')}`);
    expect(hits.body.map((m) => m.id)).toEqual([posted.id]);
    expect((await api<TopicMessage[]>(tb, dana, 'GET', '/search?q=kubernetes')).body).toEqual([]);
    expect((await api(tb, dana, 'GET', '/search')).body).toMatchObject({ error: { code: 'E_SCHEMA', message: expect.stringMatching(/^q:/) } });
  });

  it('shows the @mention as a notification, and the reply to its author; marks them read', async () => {
    const notes = await api<Notification[]>(tb, dana, 'GET', '/notifications');
    expect(notes.body.map((n) => [n.kind, n.topic, n.actor.display_name, n.message.id, n.read_at])).toEqual([['mention', 'general', 'alice', posted.id, null]]);
    expect((await api<Notification[]>(tb, dana, 'GET', '/me/notifications')).body).toEqual(notes.body);
    const alices = await api<Notification[]>(tb, aliceKey, 'GET', '/notifications?unread=true');
    expect(alices.body.map((n) => [n.kind, n.actor.display_name])).toEqual([['reply', 'dana']]);

    expect((await api(tb, dana, 'POST', '/notifications/read')).body).toEqual({ marked: 1 });
    expect((await api(tb, dana, 'GET', '/notifications?unread=true')).body).toEqual([]);
    expect((await api(tb, aliceKey, 'POST', '/notifications/read', { ids: [alices.body[0]!.id] })).body).toEqual({ marked: 1 });
  });

  it('creates, joins and leaves topics; /me lists joined topics and the activity feed', async () => {
    const created = await api<TopicInfo>(tb, dana, 'POST', '/topics', { name: 'ops', description: 'deploys' });
    expect(created).toMatchObject({ status: 201, body: { name: 'ops', visibility: 'public', joined: true, members: 1 } });
    expect(await api(tb, dana, 'POST', '/topics', { name: 'ops' })).toMatchObject({ status: 409, body: { error: { code: 'E_CONFLICT' } } });
    expect((await api<TopicInfo>(tb, aliceKey, 'POST', '/topics/ops/join')).body).toMatchObject({ name: 'ops', joined: true, members: 2 });
    await api(tb, aliceKey, 'POST', '/topics/ops/messages', { text: 'deploying now' });
    expect((await api<TopicInfo>(tb, dana, 'GET', '/topics/ops')).body).toMatchObject({ unread: 1, members: 2 });
    expect((await api(tb, aliceKey, 'POST', '/topics/ops/leave')).body).toEqual({ left: true });
    expect((await api<TopicInfo[]>(tb, aliceKey, 'GET', '/me/topics')).body.map((t) => t.name)).toEqual(['general']);
    const feed = await api<TopicMessage[]>(tb, dana, 'GET', '/me/activity?limit=2');
    expect(feed.body.map((m) => [m.topic, m.text])).toEqual([['ops', 'deploying now'], ['general', 'on it']]);
  });

  it('keeps a private topic to its members: adding someone lets them in', async () => {
    await api(tb, aliceKey, 'POST', '/topics', { name: 'hush', visibility: 'private', encryption: 'plaintext' });
    await api(tb, aliceKey, 'POST', '/topics/hush/messages', { text: 'just us' });
    expect((await api<TopicInfo[]>(tb, dana, 'GET', '/topics')).body.map((t) => t.name)).not.toContain('hush');
    expect(await api(tb, dana, 'POST', '/topics/hush/join')).toMatchObject({ status: 403, body: { error: { code: 'E_FORBIDDEN' } } });
    expect(await api(tb, dana, 'GET', '/topics/hush/messages')).toMatchObject({ status: 403, body: { error: { code: 'E_FORBIDDEN' } } });
    const added = await api<TopicMember[]>(tb, aliceKey, 'POST', '/topics/hush/members', { member: 'dana' });
    expect(added.body.map((m) => m.display_name)).toEqual(['alice', 'dana']);
    expect((await api<{ messages: TopicMessage[] }>(tb, dana, 'GET', '/topics/hush/messages')).body.messages.map((m) => m.text)).toEqual(['just us']);
  });

  it('lists members with WebSocket sessions and REST presence; /peers is the same list', async () => {
    const client = await connectClient(tb, mesh, bob);
    try {
      await client.setStatus('working');
      await client.setSummary('reviewing the deploy');
      const members = await api<MemberPresence[]>(tb, dana, 'GET', '/members');
      expect(members.status).toBe(200);
      const by = new Map(members.body.map((m) => [m.display_name, m]));
      expect(by.get('dana')).toMatchObject({ peer_type: 'human', rest_only: true, rest_active: true, online: true, sessions: 0, status: null });
      expect(by.get('bob')).toMatchObject({ peer_type: 'ai', rest_only: false, rest_active: false, online: true, sessions: 1, status: 'working', summary: 'reviewing the deploy' });
      expect(by.get('owner')).toMatchObject({ role: 'owner', online: false, sessions: 0, rest_active: false, last_seen_at: null });
      expect(by.get('alice')).toMatchObject({ rest_active: true, online: true, sessions: 0 });
      expect((await api<MemberPresence[]>(tb, dana, 'GET', '/peers')).body.map((m) => m.display_name)).toEqual(members.body.map((m) => m.display_name));
      // A key's very first request already counts (its last-use write is asynchronous).
      const erin = (await issueKey(tb, mesh, mesh.owner, { capabilities: ['read'], human: 'erin' })).secret;
      expect((await api<MemberPresence[]>(tb, erin, 'GET', '/members')).body.find((m) => m.display_name === 'erin')).toMatchObject({ rest_active: true, online: true });

      const inTopic = await api<TopicMember[]>(tb, dana, 'GET', '/topics/general/members');
      expect(Object.fromEntries(inTopic.body.map((m) => [m.display_name, m.online]))).toEqual({ owner: false, alice: true, bob: true, dana: true, erin: true });

      // bob stops granting dana `read`: his presence is hidden from her, as in the WebSocket peer list.
      await client.setGrants((await api<MeInfo>(tb, dana, 'GET', '/me')).body.member.member_pubkey, ['dm'], false);
      const hidden = (await api<MemberPresence[]>(tb, dana, 'GET', '/members')).body.find((m) => m.display_name === 'bob');
      expect(hidden).toMatchObject({ online: false, sessions: 0, status: null, summary: null });
      expect((await api<MemberPresence[]>(tb, aliceKey, 'GET', '/members')).body.find((m) => m.display_name === 'bob')).toMatchObject({ online: true, sessions: 1 });
    } finally {
      await client.close();
    }
  });
});
