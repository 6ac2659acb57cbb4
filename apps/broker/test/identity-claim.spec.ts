import { EpochKeyring, MeshApi, createApiKey, meshMembersWithKeys, openTopicMessages, topicSendEncrypted, type MeInfo, type MemberPresence } from '@claudemesh/core';
import { generateIdentity, identityClaimString, sign, type Identity } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { api, cell } from './bearer-api.js';

/**
 * A REST-only human claims a keypair of its own (protocol §6.5 "Claiming a key", POST /me/identity):
 * what the web app does so that end-to-end encrypted topics open in the browser. Once, signed by the
 * new key for this mesh and placeholder; then the member is sealed to like any other.
 */
describe.each(dbKinds())('claiming a key for a REST-only human on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let agent: Identity;
  let agentApi: MeshApi;

  const humanKey = async (name: string): Promise<string> => (await createApiKey(tb.url, mesh.owner, mesh.meshId, { capabilities: ['read', 'send'], human: name })).secret;
  const me = async (key: string): Promise<MeInfo> => (await api<MeInfo>(tb, key, 'GET', '/me')).body;
  const claimBody = (placeholder: string, who: Identity, meshId = mesh.meshId) => ({
    member_pubkey: who.publicKey,
    sig: sign(identityClaimString({ meshId, placeholder, memberPubkey: who.publicKey }), who.secretKey),
  });
  const ring = (who: Identity) => new EpochKeyring({ me: who, meshId: mesh.meshId, authorities: () => [agent.publicKey, mesh.owner.publicKey] });

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'claims');
    agent = await addMember(tb, mesh, 'agent');
    agentApi = new MeshApi(tb.url, (await createApiKey(tb.url, agent, mesh.meshId, { capabilities: ['read', 'send'] })).secret);
  });
  afterAll(async () => tb?.close());

  it('replaces the placeholder once, with a key the claim is signed by; the member then holds a key like any other', async () => {
    const key = await humanKey('dana');
    const placeholder = (await me(key)).member.member_pubkey;
    const dana = generateIdentity();
    const rest = (): Promise<MemberPresence | undefined> => agentApi.members().then((all) => all.find((m) => m.display_name === 'dana'));
    expect((await rest())?.rest_only).toBe(true);

    // Signed by another key, for another placeholder, for another mesh: refused, nothing changes.
    const other = generateIdentity();
    expect(cell(await api(tb, key, 'POST', '/me/identity', { ...claimBody(placeholder, other), member_pubkey: dana.publicKey }))).toBe('401 E_BAD_SIGNATURE');
    expect(cell(await api(tb, key, 'POST', '/me/identity', claimBody('00'.repeat(32), dana)))).toBe('401 E_BAD_SIGNATURE');
    expect(cell(await api(tb, key, 'POST', '/me/identity', claimBody(placeholder, dana, '00000000-0000-4000-8000-000000000000')))).toBe('401 E_BAD_SIGNATURE');
    expect((await me(key)).member.member_pubkey).toBe(placeholder);

    const claimed = await api<MeInfo>(tb, key, 'POST', '/me/identity', claimBody(placeholder, dana));
    expect(claimed.status).toBe(200);
    expect(claimed.body.member).toMatchObject({ member_pubkey: dana.publicKey, display_name: 'dana', peer_type: 'human' });
    expect((await me(key)).member.member_pubkey).toBe(dana.publicKey);
    expect(await rest()).toMatchObject({ member_pubkey: dana.publicKey });
    expect((await rest())?.rest_only).not.toBe(true);
    expect(await meshMembersWithKeys(agentApi)).toContain(dana.publicKey);

    // Once: a second claim, even by the same key, is refused.
    const again = await api<{ error: { code: string; message: string } }>(tb, key, 'POST', '/me/identity', claimBody(dana.publicKey, generateIdentity()));
    expect([again.status, again.body.error.code]).toEqual([409, 'E_CONFLICT']);
    expect(again.body.error.message).toMatch(/claimed once/);
  });

  it('refuses a member that holds a key, and a key another member holds', async () => {
    const own = (await createApiKey(tb.url, agent, mesh.meshId, { capabilities: ['read', 'send'] })).secret;
    expect(cell(await api(tb, own, 'POST', '/me/identity', claimBody(agent.publicKey, generateIdentity())))).toBe('409 E_CONFLICT');
    const erin = await humanKey('erin');
    const taken = await api<{ error: { code: string; message: string } }>(tb, erin, 'POST', '/me/identity', claimBody((await me(erin)).member.member_pubkey, agent));
    expect([taken.status, taken.body.error.code]).toEqual([409, 'E_CONFLICT']);
    expect(taken.body.error.message).toMatch(/another member/);
    const readOnly = (await createApiKey(tb.url, mesh.owner, mesh.meshId, { capabilities: ['read'], human: 'fay' })).secret;
    expect(cell(await api(tb, readOnly, 'POST', '/me/identity', claimBody((await me(readOnly)).member.member_pubkey, generateIdentity())))).toBe('403 E_FORBIDDEN');
  });

  it('opens an e2e topic to the claimed key: the next post rotates to include it, and it reads from then on', async () => {
    const key = await humanKey('gus');
    const gusApi = new MeshApi(tb.url, key);
    await agentApi.createTopic({ name: 'secret', encryption: 'e2e' });
    const agentRing = ring(agent);
    const send = (text: string) => topicSendEncrypted(agentApi, agentRing, 'secret', text, { members: () => meshMembersWithKeys(agentApi) });
    await send('before gus had a key');
    const gus = generateIdentity();
    expect(cell(await api(tb, key, 'POST', '/me/identity', claimBody((await me(key)).member.member_pubkey, gus)))).toBe('200');
    await send('after gus claimed his key');
    const page = await gusApi.history('secret');
    const opened = await openTopicMessages(gusApi, ring(gus), page.messages);
    expect(opened.map((m) => m.text)).toEqual([null, 'after gus claimed his key']);
    // And gus posts sealed messages the agent opens.
    const gusRing = ring(gus);
    await topicSendEncrypted(gusApi, gusRing, 'secret', 'gus, from his own key', { members: () => meshMembersWithKeys(gusApi) });
    const seen = await openTopicMessages(agentApi, agentRing, (await agentApi.history('secret')).messages);
    expect(seen.map((m) => m.text)).toContain('gus, from his own key');
  });
});
