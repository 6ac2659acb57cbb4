import type { TopicMessage } from '@claudemesh/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
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
});
