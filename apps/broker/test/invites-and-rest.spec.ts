import { createMesh, issueInvite, joinMesh, listMembers, revokeInvite, signedRequest } from '@claudemesh/core';
import { createInvite, generateIdentity, sign, type SignedInvite } from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

describe.each(dbKinds())('invites, enrollment and REST edges on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;

  const invite = (opts: Partial<Parameters<typeof createInvite>[0]> = {}): SignedInvite =>
    createInvite({ meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner, ...opts });
  const join = (inv: SignedInvite, displayName: string) => joinMesh(tb.url, { invite: inv, identity: generateIdentity(), displayName });
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${tb.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb);
  });
  afterAll(async () => tb?.close());

  it('makes the mesh owner its first member at creation', async () => {
    const { members } = await listMembers(tb.url, mesh.owner, mesh.meshId);
    expect(members).toEqual([expect.objectContaining({ member_pubkey: mesh.owner.publicKey, display_name: 'owner', role: 'owner', revoked: false })]);
  });

  it('enrolls with a valid invite, and a second join by the same key is a no-op rejoin', async () => {
    const inv = invite({ maxUses: 5 });
    const identity = generateIdentity();
    const first = await joinMesh(tb.url, { invite: inv, identity, displayName: 'newbie' });
    expect(first).toMatchObject({ mesh_id: mesh.meshId, mesh_name: mesh.name, rejoined: false, member: { display_name: 'newbie', role: 'member' } });
    const again = await joinMesh(tb.url, { invite: inv, identity, displayName: 'newbie' });
    expect(again.rejoined).toBe(true);
  });

  it('refuses an expired invite with E_INVITE_EXPIRED', async () => {
    const inv = invite({ ttlMs: 1000, now: Date.now() - 10_000 });
    await expect(join(inv, 'late')).rejects.toMatchObject({ code: 'E_INVITE_EXPIRED' });
  });

  it('refuses an exhausted invite with E_INVITE_EXHAUSTED, and a name clash does not burn a use', async () => {
    const inv = invite({ maxUses: 1 });
    await expect(join(inv, 'newbie')).rejects.toMatchObject({ code: 'E_NAME_TAKEN' });
    await join(inv, 'only-one');
    await expect(join(inv, 'one-too-many')).rejects.toMatchObject({ code: 'E_INVITE_EXHAUSTED' });
  });

  it('never admits more joiners than max_uses under concurrency', async () => {
    const inv = invite({ maxUses: 3 });
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => join(inv, `racer-${i}`)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'E_INVITE_EXHAUSTED' });
  });

  it('refuses a revoked invite with E_INVITE_REVOKED', async () => {
    const { invite: inv } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner, maxUses: 3 });
    const revoked = await revokeInvite(tb.url, mesh.owner, mesh.meshId, inv.payload.invite_id);
    expect(revoked.revoked).toBe(true);
    await expect(join(inv, 'too-late')).rejects.toMatchObject({ code: 'E_INVITE_REVOKED' });
  });

  it('refuses a tampered invite with E_INVITE_INVALID', async () => {
    const inv = invite({ maxUses: 1 });
    await expect(join({ ...inv, payload: { ...inv.payload, role: 'admin' } }, 'escalator')).rejects.toMatchObject({ code: 'E_INVITE_INVALID' });
    await expect(join({ ...inv, payload: { ...inv.payload, max_uses: 1000 } }, 'greedy')).rejects.toMatchObject({ code: 'E_INVITE_INVALID' });
  });

  it('refuses an invite signed by someone who is not an owner or admin of the mesh', async () => {
    const member = await addMember(tb, mesh, 'plain-member');
    await expect(join(invite({ issuer: member }), 'via-member')).rejects.toMatchObject({ code: 'E_INVITE_INVALID' });
    await expect(join(invite({ issuer: generateIdentity() }), 'via-stranger')).rejects.toMatchObject({ code: 'E_INVITE_INVALID' });
    await expect(
      issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: member }),
    ).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
  });

  it('refuses a join whose signature does not prove the member key with E_BAD_SIGNATURE', async () => {
    const inv = invite();
    const identity = generateIdentity();
    const body = { invite: inv, member_pubkey: identity.publicKey, display_name: 'forger', peer_type: 'ai', ts: Date.now(), sig: sign('something else', identity.secretKey) };
    const res = await post('/api/v1/join', JSON.stringify(body));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'E_BAD_SIGNATURE', message: expect.any(String) } });
  });

  it('answers malformed JSON, schema violations and oversized bodies with stable codes', async () => {
    const bad = await post('/api/v1/join', '{"invite": ');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('E_SCHEMA');
    const schema = await post('/api/v1/join', JSON.stringify({ invite: 1 }));
    expect(schema.status).toBe(400);
    expect(((await schema.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'E_SCHEMA', message: expect.stringMatching(/invite/) });
    const huge = await post('/api/v1/join', JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { code: string } }).error.code).toBe('E_TOO_LARGE');
  });

  it('requires the admin token to create a mesh and a member signature for member routes', async () => {
    await expect(createMesh(tb.url, { name: 'rogue', owner: generateIdentity(), displayName: 'rogue' })).rejects.toMatchObject({ code: 'E_UNAUTHORIZED' });
    await expect(createMesh(tb.url, { name: 'rogue', owner: generateIdentity(), displayName: 'rogue', adminToken: 'wrong-token-wrong-token' })).rejects.toMatchObject({ code: 'E_UNAUTHORIZED' });
    const unsigned = await fetch(`${tb.url}/api/v1/meshes/${mesh.meshId}/members`);
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as { error: { code: string } }).error.code).toBe('E_UNAUTHORIZED');
    await expect(listMembers(tb.url, generateIdentity(), mesh.meshId)).rejects.toMatchObject({ code: 'E_NOT_MEMBER' });
  });

  it('lets only owners and admins revoke members, and never the owner', async () => {
    const member = await addMember(tb, mesh, 'ordinary');
    const victim = await addMember(tb, mesh, 'victim');
    await expect(signedRequest(tb.url, member, mesh.meshId, 'POST', `/api/v1/meshes/${mesh.meshId}/members/${victim.publicKey}/revoke`, {})).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    const admin = await addMember(tb, mesh, 'an-admin', 'admin');
    await expect(signedRequest(tb.url, admin, mesh.meshId, 'POST', `/api/v1/meshes/${mesh.meshId}/members/${mesh.owner.publicKey}/revoke`, {})).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    const otherAdmin = await addMember(tb, mesh, 'other-admin', 'admin');
    await expect(signedRequest(tb.url, admin, mesh.meshId, 'POST', `/api/v1/meshes/${mesh.meshId}/members/${otherAdmin.publicKey}/revoke`, {})).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await signedRequest(tb.url, admin, mesh.meshId, 'POST', `/api/v1/meshes/${mesh.meshId}/members/${victim.publicKey}/revoke`, {});
    const { members } = await listMembers(tb.url, mesh.owner, mesh.meshId);
    expect(members.find((m) => m.display_name === 'victim')?.revoked).toBe(true);
  });

  it('serves the https invite landing page without needing the fragment', async () => {
    const page = await fetch(`${tb.url}/join`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('claudemesh join');
  });

  it('serves /healthz and /readyz', async () => {
    expect((await fetch(`${tb.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${tb.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
  });
});
