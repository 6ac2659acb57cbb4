import { DEFAULT_CAPABILITIES, type MeshClient, type Notification, type TopicMessage } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { api, issueKey } from './bearer-api.js';

type Posted = { message: TopicMessage };

/**
 * Who sees a mention or reply notification (docs/topics.md, Notifications): a member sees one
 * only while it may read the message and has not blocked its author — decided when it reads them.
 */
describe.each(dbKinds())('notification visibility on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const ids = {} as Record<'alice' | 'bob' | 'carol' | 'dave', Identity>;
  const keys = {} as Record<'alice' | 'bob' | 'carol' | 'dave', string>;
  let bob: MeshClient;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'notes');
    for (const n of ['alice', 'bob', 'carol', 'dave'] as const) {
      ids[n] = await addMember(tb, mesh, n);
      keys[n] = (await issueKey(tb, mesh, ids[n], { label: n, capabilities: ['read', 'send'] })).secret;
    }
    bob = await connectClient(tb, mesh, ids.bob);
  });
  afterAll(async () => {
    await bob?.close();
    await tb?.close();
  });

  const post = async (who: keyof typeof keys, topic: string, text: string, replyTo?: string) =>
    (await api<Posted>(tb, keys[who], 'POST', `/topics/${topic}/messages`, { text, ...(replyTo ? { reply_to: replyTo } : {}) })).body.message;
  const bobSees = async (query = '') => (await api<Notification[]>(tb, keys.bob, 'GET', `/notifications${query}`)).body;
  const texts = (notes: Notification[]) => notes.map((n) => `${n.kind} ${n.message.text}`).sort();

  it('stops showing a private topic’s notifications, and so their text, to a member who left it', async () => {
    await api(tb, keys.alice, 'POST', '/topics', { name: 'vault', visibility: 'private', encryption: 'plaintext' });
    await api(tb, keys.alice, 'POST', '/topics/vault/members', { member: 'bob' });
    const bobs = await post('bob', 'vault', 'what is the code?');
    await post('alice', 'vault', '@bob the vault code is 4711');
    await post('alice', 'vault', 'it changes monthly', bobs.id);
    expect(texts((await bobSees()).filter((n) => n.message.topic === 'vault'))).toEqual(['mention @bob the vault code is 4711', 'reply it changes monthly']);

    expect((await api<{ left: boolean }>(tb, keys.bob, 'POST', '/topics/vault/leave')).body).toEqual({ left: true });
    expect((await bobSees()).filter((n) => n.message.topic === 'vault')).toEqual([]);
    expect((await bobSees('?unread=true')).filter((n) => n.message.topic === 'vault')).toEqual([]);
    expect((await api<Notification[]>(tb, keys.bob, 'GET', '/me/notifications')).body.map((n) => n.message.text)).not.toContain('@bob the vault code is 4711');
    // Marking "all" read touches nothing it cannot see.
    expect((await api(tb, keys.bob, 'POST', '/notifications/read')).body).toEqual({ marked: 0 });

    // Added back, the member reads the topic again, and its notifications with it (still unread).
    await api(tb, keys.alice, 'POST', '/topics/vault/members', { member: 'bob' });
    expect(texts((await bobSees('?unread=true')).filter((n) => n.message.topic === 'vault'))).toEqual(['mention @bob the vault code is 4711', 'reply it changes monthly']);
    await api(tb, keys.bob, 'POST', '/topics/vault/leave');
  });

  it('hides every mention and reply by a peer the member blocked, those from before the block too, while the block stands', async () => {
    const before = await post('carol', 'general', '@bob before the block');
    await bob.setGrants(ids.carol.publicKey, [], true);
    const bobs = await post('bob', 'general', 'a question from bob');
    const mention = await post('carol', 'general', '@bob after the block');
    await post('carol', 'general', 'a reply after the block', bobs.id);
    await post('dave', 'general', '@bob from dave');

    const shown = await bobSees();
    expect(shown.filter((n) => n.actor.member_pubkey === ids.carol.publicKey)).toEqual([]);
    expect(shown.map((n) => n.message.text)).toContain('@bob from dave');
    // The author learns nothing: its message names bob among its mentions as it would without the block.
    expect(mention.mentions).toEqual(before.mentions);
    expect(mention.mentions).toContain(ids.bob.publicKey);
    // "All read" marks only what bob sees.
    const unread = (await bobSees('?unread=true')).length;
    expect((await api(tb, keys.bob, 'POST', '/notifications/read')).body).toEqual({ marked: unread });

    await bob.setGrants(ids.carol.publicKey, [...DEFAULT_CAPABILITIES], false);
    expect(texts((await bobSees('?unread=true')).filter((n) => n.actor.member_pubkey === ids.carol.publicKey))).toEqual([
      'mention @bob after the block',
      'mention @bob before the block',
      'reply a reply after the block',
    ]);
  });

  it('marks read only the notifications within a topic-scoped key’s topics', async () => {
    await api(tb, keys.alice, 'POST', '/topics', { name: 'ops', encryption: 'plaintext' });
    await api(tb, keys.bob, 'POST', '/notifications/read');
    await post('alice', 'ops', '@bob ops needs you');
    await post('alice', 'general', '@bob general needs you');
    const scoped = (await issueKey(tb, mesh, ids.bob, { label: 'general only', capabilities: ['read', 'send'], topics: ['general'] })).secret;
    expect((await api(tb, scoped, 'POST', '/notifications/read')).body).toEqual({ marked: 1 });
    expect((await bobSees('?unread=true')).map((n) => n.message.text)).toEqual(['@bob ops needs you']);
  });
});
