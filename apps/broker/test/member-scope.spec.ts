import { issueInvite, listMembers, setMemberScope, type MemberScope, type MeshClient, type TopicMessage } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { api, cell, issueKey } from './bearer-api.js';

/**
 * A member's scope (docs/protocol.md §8.3 "MemberScope"): the ceiling a plugin's member is held to
 * (docs/plugins.md §1.1). Who may set it, and that every way in — WebSocket frames, topic pushes,
 * API keys minted before and after, admin routes — stops at it.
 */
describe('member scope', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const ids = {} as Record<'plug' | 'bob' | 'adm' | 'adm2', Identity>;
  let plug: MeshClient;
  let ownerKey: string;
  const plugTopics: TopicMessage[] = [];

  const codeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));
  const scopeOf = async (name: string): Promise<MemberScope | null | undefined> =>
    (await listMembers(tb.url, mesh.owner, mesh.meshId)).members.find((m) => m.display_name === name)?.scope;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'scoped');
    ids.plug = await addMember(tb, mesh, 'plug');
    ids.bob = await addMember(tb, mesh, 'bob');
    ids.adm = await addMember(tb, mesh, 'adm', 'admin');
    ids.adm2 = await addMember(tb, mesh, 'adm2', 'admin');
    ownerKey = (await issueKey(tb, mesh, mesh.owner, { label: 'owner', capabilities: ['read', 'send', 'admin'] })).secret;
    expect(cell(await api(tb, ownerKey, 'POST', '/topics', { name: 'ops', encryption: 'plaintext' }))).toBe('201');
    expect(cell(await api(tb, ownerKey, 'POST', '/topics/ops/members', { member: 'plug' }))).toBe('200');
    plug = await connectClient(tb, mesh, ids.plug);
    plug.on('topic', (m: TopicMessage) => plugTopics.push(m));
  });
  afterAll(async () => {
    await plug?.close();
    await tb?.close();
  });

  it('a member narrows its own scope, never widens or lifts it; the member list shows it', async () => {
    expect(await scopeOf('plug')).toBeNull();
    const set = await setMemberScope(tb.url, ids.plug, mesh.meshId, ids.plug.publicKey, { capabilities: ['read'], topics: ['general'] });
    expect(set.scope).toEqual({ capabilities: ['read'], topics: ['general'] });
    expect(await scopeOf('plug')).toEqual({ capabilities: ['read'], topics: ['general'] });
    expect(await codeOf(setMemberScope(tb.url, ids.plug, mesh.meshId, ids.plug.publicKey, { capabilities: ['read', 'send'], topics: ['general'] }))).toBe('E_FORBIDDEN');
    expect(await codeOf(setMemberScope(tb.url, ids.plug, mesh.meshId, ids.plug.publicKey, { capabilities: ['read'], topics: null }))).toBe('E_FORBIDDEN');
    expect(await codeOf(setMemberScope(tb.url, ids.plug, mesh.meshId, ids.plug.publicKey, null))).toBe('E_FORBIDDEN');
    // Nor anyone else's.
    expect(await codeOf(setMemberScope(tb.url, ids.plug, mesh.meshId, ids.bob.publicKey, { capabilities: [], topics: null }))).toBe('E_FORBIDDEN');
    expect(await scopeOf('plug')).toEqual({ capabilities: ['read'], topics: ['general'] });
  });

  it('its WebSocket session is held to it from the next frame: no sends, no topic outside the scope', async () => {
    expect(await codeOf(plug.topicSend('general', 'hi'))).toBe('E_FORBIDDEN');
    expect(await codeOf(plug.send('bob', 'a DM'))).toBe('E_FORBIDDEN');
    expect(await codeOf(plug.stateSet('k', 'v', 1))).toBe('E_FORBIDDEN');
    expect(await codeOf(plug.topicHistory('general'))).toBe('ok');
    expect(await codeOf(plug.topicHistory('ops'))).toBe('E_FORBIDDEN');
    // Presence is part of being a peer.
    expect(await codeOf(plug.setSummary('bridging'))).toBe('ok');
  });

  it('pushes of a topic outside the scope do not reach it', async () => {
    expect(cell(await api(tb, ownerKey, 'POST', '/topics/ops/messages', { text: 'ops only' }))).toBe('201');
    expect(cell(await api(tb, ownerKey, 'POST', '/topics/general/messages', { text: 'for everyone' }))).toBe('201');
    await waitFor(() => plugTopics.some((m) => m.text === 'for everyone'), 'the #general push');
    expect(plugTopics.map((m) => m.topic)).toEqual(['general']);
  });

  it('its API keys stay inside it: minted within, refused beyond', async () => {
    const tryKey = (body: Parameters<typeof issueKey>[3]) => codeOf(issueKey(tb, mesh, ids.plug, body));
    expect(await tryKey({ label: 'w', capabilities: ['read', 'send'], topics: ['general'] })).toBe('E_FORBIDDEN');
    expect(await tryKey({ label: 'ops', capabilities: ['read'], topics: ['ops'] })).toBe('E_FORBIDDEN');
    // A key that names no topics reaches the scope's topics only.
    const any = (await issueKey(tb, mesh, ids.plug, { label: 'any', capabilities: ['read'] })).secret;
    expect(cell(await api(tb, any, 'GET', '/topics/general/messages'))).toBe('200');
    expect(cell(await api(tb, any, 'GET', '/topics/ops/messages'))).toBe('403 E_FORBIDDEN');
    const key = (await issueKey(tb, mesh, ids.plug, { label: 'r', capabilities: ['read'], topics: ['general'] })).secret;
    expect(cell(await api(tb, key, 'GET', '/topics/general/messages'))).toBe('200');
    expect(cell(await api(tb, key, 'POST', '/topics/general/messages', { text: 'x' }))).toBe('403 E_FORBIDDEN');
  });

  it('a key minted before the member was confined is cut to the scope', async () => {
    const key = (await issueKey(tb, mesh, ids.bob, { label: 'wide', capabilities: ['read', 'send'] })).secret;
    expect(cell(await api(tb, key, 'POST', '/topics/general/messages', { text: 'before' }))).toBe('201');
    await setMemberScope(tb.url, mesh.owner, mesh.meshId, ids.bob.publicKey, { capabilities: ['read'], topics: ['general'] });
    expect(cell(await api(tb, key, 'POST', '/topics/general/messages', { text: 'after' }))).toBe('403 E_FORBIDDEN');
    expect(cell(await api(tb, key, 'GET', '/topics/general/messages'))).toBe('200');
    expect(cell(await api(tb, key, 'GET', '/topics/ops/messages'))).toBe('403 E_FORBIDDEN');
    await setMemberScope(tb.url, mesh.owner, mesh.meshId, ids.bob.publicKey, null);
    expect(cell(await api(tb, key, 'POST', '/topics/general/messages', { text: 'lifted' }))).toBe('201');
  });

  it('an owner widens it, live: the same session sends once the scope allows it', async () => {
    await setMemberScope(tb.url, mesh.owner, mesh.meshId, ids.plug.publicKey, { capabilities: ['read', 'send'], topics: ['general'] });
    expect(await codeOf(plug.topicSend('general', 'now I may'))).toBe('ok');
    expect(await codeOf(plug.send('bob', 'a DM'))).toBe('ok');
    expect(await codeOf(plug.topicSend('ops', 'not here'))).toBe('E_FORBIDDEN');
  });

  it('an admin confined without admin rights administers nothing; who may confine whom', async () => {
    await setMemberScope(tb.url, mesh.owner, mesh.meshId, ids.adm.publicKey, { capabilities: ['read', 'send'], topics: null });
    const invite = () => codeOf(issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: ids.adm }));
    expect(await invite()).toBe('E_FORBIDDEN');
    expect(await codeOf(setMemberScope(tb.url, ids.adm, mesh.meshId, ids.bob.publicKey, { capabilities: ['read'], topics: null }))).toBe('E_FORBIDDEN');
    expect(await codeOf(issueKey(tb, mesh, ids.adm, { label: 'adm', capabilities: ['admin'] }))).toBe('E_FORBIDDEN');
    await setMemberScope(tb.url, mesh.owner, mesh.meshId, ids.adm.publicKey, null);
    expect(await invite()).toBe('ok');
    // An admin sets a member's scope, not an admin's nor the owner's.
    expect(await codeOf(setMemberScope(tb.url, ids.adm, mesh.meshId, ids.bob.publicKey, { capabilities: ['read'], topics: null }))).toBe('ok');
    expect(await codeOf(setMemberScope(tb.url, ids.adm, mesh.meshId, ids.adm2.publicKey, { capabilities: ['read'], topics: null }))).toBe('E_FORBIDDEN');
    expect(await codeOf(setMemberScope(tb.url, ids.adm, mesh.meshId, mesh.owner.publicKey, { capabilities: ['read'], topics: null }))).toBe('E_FORBIDDEN');
  });

  it('refuses a malformed scope with E_SCHEMA', async () => {
    const bad = async (body: unknown) => codeOf(setMemberScope(tb.url, mesh.owner, mesh.meshId, ids.bob.publicKey, body as MemberScope));
    expect(await bad({ capabilities: ['write'], topics: null })).toBe('E_SCHEMA');
    expect(await bad({ capabilities: ['read'], topics: ['Not A Topic'] })).toBe('E_SCHEMA');
    expect(await bad({ capabilities: ['read'], topics: [] })).toBe('E_SCHEMA');
    expect(await bad({ capabilities: ['read'] })).toBe('E_SCHEMA');
  });
});
