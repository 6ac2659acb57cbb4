import { MeshApi, ProtocolError, createApiKey, parseTagTarget, pickAnycast, sendToTag, type InboundMessage, type MeshClient } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';

/**
 * Tag routing (docs/protocol.md §5.7): sessions advertise tags with `set_tags`, a sender's client
 * resolves `tag:` / `tag?:` from `list_peers` and sends one boxed DM per member. Presence only (no
 * stored state), so one database kind is enough here; the DM path under it is tested on both.
 */
describe('tag routing', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const ids = {} as Record<'alice' | 'bob' | 'carol' | 'dave', Identity>;
  const clients = {} as Record<'alice' | 'bob' | 'carol' | 'dave', MeshClient>;
  const inbox = { alice: [], bob: [], carol: [], dave: [] } as Record<'alice' | 'bob' | 'carol' | 'dave', InboundMessage[]>;
  const texts = (who: keyof typeof inbox): string[] => inbox[who].map((m) => m.text);
  const clear = (): void => Object.values(inbox).forEach((l) => l.splice(0));

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'tags');
    for (const n of ['alice', 'bob', 'carol', 'dave'] as const) {
      ids[n] = await addMember(tb, mesh, n);
      clients[n] = await connectClient(tb, mesh, ids[n], {}, inbox[n]);
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(clients).map((c) => c.close()));
    await tb?.close();
  });

  it('parses tag targets and refuses a malformed tag', () => {
    expect(parseTagTarget('tag:repo:billing')).toEqual({ tag: 'repo:billing', any: false });
    expect(parseTagTarget('tag?:role:reviewer')).toEqual({ tag: 'role:reviewer', any: true });
    expect(parseTagTarget('@reviewers')).toBeNull();
    expect(() => parseTagTarget('tag:Repo:Billing')).toThrow(ProtocolError);
  });

  it('multicast reaches exactly the live peers with the tag, anycast exactly one (the least busy), and a dropped tag stops it', async () => {
    await clients.bob.setTags(['repo:billing']);
    await clients.carol.setTags(['role:reviewer', 'repo:billing']);
    const peers = await clients.alice.listPeers();
    expect(peers.find((p) => p.display_name === 'carol')!.sessions[0]!.tags).toEqual(['repo:billing', 'role:reviewer']);
    expect(peers.find((p) => p.display_name === 'dave')!.sessions[0]!.tags).toEqual([]);

    const all = await sendToTag(clients.alice, parseTagTarget('tag:repo:billing')!, 'billing: the invoice job failed');
    expect(all.sent.map((s) => s.display_name)).toEqual(['bob', 'carol']);
    await waitFor(() => inbox.bob.length === 1 && inbox.carol.length === 1, 'bob and carol to get it');
    expect([texts('bob'), texts('carol'), texts('dave')]).toEqual([['billing: the invoice job failed'], ['billing: the invoice job failed'], []]);
    // Each copy is a DM boxed for its recipient.
    expect(inbox.bob[0]).toMatchObject({ kind: 'dm', from: { displayName: 'alice' } });

    clear();
    await clients.carol.setStatus('dnd');
    await clients.bob.setStatus('idle');
    const one = await sendToTag(clients.alice, parseTagTarget('tag?:repo:billing')!, 'who can look at it?');
    expect(one.sent.map((s) => s.display_name)).toEqual(['bob']);
    await waitFor(() => inbox.bob.length === 1, 'bob to get the anycast');
    expect(texts('carol')).toEqual([]);

    clear();
    await clients.carol.setTags(['role:reviewer']);
    const after = await sendToTag(clients.alice, parseTagTarget('tag:repo:billing')!, 'carol left billing');
    expect(after.sent.map((s) => s.display_name)).toEqual(['bob']);
    await waitFor(() => inbox.bob.length === 1, 'bob');
    expect(texts('carol')).toEqual([]);

    await expect(sendToTag(clients.alice, parseTagTarget('tag:lang:go')!, 'anyone?')).rejects.toMatchObject({ code: 'E_UNKNOWN_TARGET' });
    // Nobody sends to itself through a tag it carries.
    await clients.alice.setTags(['role:reviewer']);
    const reviewers = await sendToTag(clients.alice, parseTagTarget('tag:role:reviewer')!, 'review please');
    expect(reviewers.sent.map((s) => s.display_name)).toEqual(['carol']);
  });

  it('keeps grants and blocks: a peer that blocked the sender is no target, one without its dm grant gets no copy', async () => {
    clear();
    await clients.bob.setTags(['repo:billing']);
    await clients.carol.setTags(['repo:billing']);
    await clients.dave.setTags(['repo:billing']);
    await clients.bob.setGrants(ids.alice.publicKey, [], true);
    await clients.carol.setGrants(ids.alice.publicKey, ['read', 'broadcast'], false);
    const r = await sendToTag(clients.alice, parseTagTarget('tag:repo:billing')!, 'grants hold');
    expect(r.sent.map((s) => s.display_name)).toEqual(['dave']);
    expect(r.dropped.map((s) => s.display_name)).toEqual(['carol']);
    await waitFor(() => inbox.dave.length === 1, 'dave');
    expect([texts('bob'), texts('carol')]).toEqual([[], []]);
  });

  it('a client advertises its tags again after a reconnect', async () => {
    const eve = await connectClient(tb, mesh, await addMember(tb, mesh, 'eve'));
    try {
      await eve.setTags(['lang:go']);
      const reconnected = new Promise<void>((resolve) => eve.once('connected', () => resolve()));
      (eve as unknown as { ws: { terminate(): void } }).ws.terminate();
      await reconnected;
      let tags: string[] | undefined;
      for (let i = 0; i < 200 && tags?.[0] !== 'lang:go'; i++) {
        tags = (await clients.alice.listPeers()).find((p) => p.display_name === 'eve')?.sessions[0]?.tags;
        if (tags?.[0] !== 'lang:go') await new Promise((r) => setTimeout(r, 20));
      }
      expect(tags).toEqual(['lang:go']);
    } finally {
      await eve.close();
    }
  });

  it('GET /members?tag= (and /peers) resolves a tag over REST: members with a live session carrying it that the caller may see', async () => {
    await clients.alice.setTags(['team:rest']);
    await clients.dave.setTags(['team:rest', 'lang:go']);
    // bob blocked alice (above): his sessions are hidden from her, so is his tag.
    await clients.bob.setTags(['team:rest']);
    await clients.carol.setTags([]);
    const key = (await createApiKey(tb.url, ids.alice, mesh.meshId, { label: 'tags', capabilities: ['read'] })).secret;
    const api = new MeshApi(tb.url, key);
    expect((await api.members({ tag: 'team:rest' })).map((m) => m.display_name).sort()).toEqual(['alice', 'dave']);
    expect((await api.members({ tag: 'lang:go' })).map((m) => m.display_name)).toEqual(['dave']);
    expect(await api.members({ tag: 'lang:cobol' })).toEqual([]);
    expect((await api.members()).length).toBeGreaterThanOrEqual(4);
    const get = (path: string) => fetch(`${tb.url}/api/v1${path}`, { headers: { authorization: `Bearer ${key}` } });
    const peers = await get('/peers?tag=lang%3Ago');
    expect(peers.status).toBe(200);
    expect(((await peers.json()) as Array<{ display_name: string }>).map((m) => m.display_name)).toEqual(['dave']);
    // Checked as set_tags checks a tag; no other query parameter.
    for (const bad of ['/members?tag=Lang:Go', '/members?tag=', '/peers?colour=blue']) {
      const r = await get(bad);
      expect(r.status, bad).toBe(400);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('E_SCHEMA');
    }
  });

  it('picks among equally idle peers at random', () => {
    const peer = (name: string, status: 'idle' | 'working' | 'dnd') => ({
      member_pubkey: name.padEnd(64, '0'), display_name: name, role: 'member' as const, peer_type: 'ai' as const, online: true, groups: [],
      sessions: [{ session_pubkey: 'f'.repeat(64), peer_type: 'ai' as const, status, summary: '', tags: ['t'], connected_at: 1 }],
    });
    const candidates = [peer('a', 'working'), peer('b', 'idle'), peer('c', 'idle')];
    expect(pickAnycast(candidates, 't', () => 0).display_name).toBe('b');
    expect(pickAnycast(candidates, 't', () => 0.99).display_name).toBe('c');
  });
});
