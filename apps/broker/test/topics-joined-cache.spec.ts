import { ProtocolError, type MeshClient } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { api, issueKey } from './bearer-api.js';
import { recordStatements } from './statement-recorder.js';

/** The statement that looks a topic up for a member (TopicsService.resolve). */
const TOPIC_LOOKUP = /FROM topics t LEFT JOIN topic_members me/;

/**
 * A WebSocket connection remembers the topics its member joined (apps/broker/src/topics/joined-topics.ts):
 * its posts to them need no lookup of the topic. The member leaving a topic (over REST, from any
 * node) reaches the connection as a `topic_left` event, and from then on the topic is looked up again.
 */
describe.each(dbKinds())('the topics a connection remembers on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const ids = {} as Record<'ann' | 'ben', Identity>;
  const keys = {} as Record<'ann' | 'ben', string>;
  let ben: MeshClient;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'joined');
    for (const n of ['ann', 'ben'] as const) {
      ids[n] = await addMember(tb, mesh, n);
      keys[n] = (await issueKey(tb, mesh, ids[n], { label: n, capabilities: ['read', 'send'] })).secret;
    }
    ben = await connectClient(tb, mesh, ids.ben);
  });
  afterAll(async () => {
    await ben?.close();
    await tb?.close();
  });

  /** The statements run through the broker's DataSource while `work` runs. */
  const statementsDuring = async (work: () => Promise<unknown>): Promise<string[]> => {
    const statements = recordStatements(tb);
    try {
      await work();
    } finally {
      statements.stop();
    }
    return statements.list;
  };

  it('posts to a topic its member joined without looking the topic up again', async () => {
    expect((await api(tb, keys.ann, 'POST', '/topics', { name: 'lounge', encryption: 'plaintext' })).status).toBe(201);
    // The first post joins ben (a public topic); the lookup after it finds him joined, and is the last.
    await ben.topicSend('lounge', 'first');
    await ben.topicSend('lounge', 'second');
    const during = await statementsDuring(async () => {
      await ben.topicSend('lounge', 'third');
      await ben.topicHistory('lounge', { limit: 5 });
    });
    expect(during.some((q) => q.includes('topic_messages'))).toBe(true);
    expect(during.filter((q) => TOPIC_LOOKUP.test(q))).toEqual([]);
  });

  it('refuses a post to a private topic its member left over REST, on the connection that posted to it before', async () => {
    expect((await api(tb, keys.ann, 'POST', '/topics', { name: 'vault', visibility: 'private', encryption: 'plaintext' })).status).toBe(201);
    expect((await api(tb, keys.ann, 'POST', '/topics/vault/members', { member: 'ben' })).status).toBe(200);
    await ben.topicSend('vault', 'inside');
    await ben.topicSend('vault', 'still inside');
    expect((await api<{ left: boolean }>(tb, keys.ben, 'POST', '/topics/vault/leave')).body).toEqual({ left: true });
    const refused = await ben.topicSend('vault', 'after leaving').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProtocolError);
    expect(refused).toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(ben.topicHistory('vault', { limit: 5 })).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    // Added again, he posts again (a topic found not joined is never remembered as such).
    expect((await api(tb, keys.ann, 'POST', '/topics/vault/members', { member: 'ben' })).status).toBe(200);
    expect((await ben.topicSend('vault', 'back inside')).text).toBe('back inside');
    const texts = (await api<{ messages: Array<{ text: string }> }>(tb, keys.ann, 'GET', '/topics/vault/messages?limit=10')).body.messages.map((m) => m.text);
    expect(texts).toEqual(['inside', 'still inside', 'back inside']);
  });
});
