import {
  ProtocolError,
  claimShortInvite,
  issueInvite,
  issueShortInvite,
  joinMesh,
  resolveShortInvite,
  revokeMember,
  revokeShortInvite,
  signedRequest,
  type InboundMessage,
  type InviteResponse,
} from '@claudemesh/core';
import {
  canonicalJson,
  createShortInvite,
  deriveInviteLookup,
  deriveInviteWrapKey,
  formatInviteCode,
  generateIdentity,
  generateInviteCode,
  sealTo,
  shortInviteClaimString,
  shortInviteString,
  sign,
  toB64u,
  toHex,
  type Identity,
} from '@claudemesh/crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';

const errorOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (error) {
    return error instanceof ProtocolError ? error.code : String(error);
  }
};

describe.each(dbKinds())('invites v2 (short codes) on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let db: DataSource;

  const issue = (opts: Partial<Parameters<typeof issueShortInvite>[1]> = {}) =>
    issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: mesh.owner, ...opts });
  const claim = (code: string, displayName: string, identity: Identity = generateIdentity()) => claimShortInvite(tb.url, { code, identity, displayName });
  const post = async (path: string, body: unknown): Promise<{ status: number; code?: string }> => {
    const res = await fetch(`${tb.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await res.json()) as { error?: { code: string } };
    return { status: res.status, ...(json.error ? { code: json.error.code } : {}) };
  };
  const claimBody = (code: string, identity: Identity, over: Record<string, unknown> = {}, sigOver: Record<string, unknown> = {}) => {
    const fields = { lookup: deriveInviteLookup(code), memberPubkey: identity.publicKey, x25519Pubkey: toB64u(identity.boxPublicKey), displayName: 'claimer', peerType: 'ai', ts: Date.now(), ...sigOver };
    return {
      lookup: fields.lookup, member_pubkey: identity.publicKey, x25519_pubkey: toB64u(identity.boxPublicKey), display_name: 'claimer', peer_type: 'ai', ts: fields.ts,
      sig: sign(shortInviteClaimString(fields), identity.secretKey),
      ...over,
    };
  };

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'short-codes');
    db = tb.broker.app.get(DataSource);
  });
  afterAll(async () => tb?.close());

  it('enrolls with a code and hands over the mesh key, which then opens the mesh’s group traffic', async () => {
    const issued = await issue({ maxUses: 2 });
    expect(issued.link).toBe(`${tb.url}/i/${formatInviteCode(issued.code)}`);
    expect(issued.registered).toMatchObject({ mesh_id: mesh.meshId, role: 'member', max_uses: 2, uses: 0, revoked: false, version: 2 });
    // Resolve names who invites, before anything is joined (what a one-click join shows first).
    expect(await resolveShortInvite(tb.url, issued.code)).toEqual({
      mesh_id: mesh.meshId,
      mesh_name: 'short-codes',
      role: 'member',
      expires_at: issued.record.expires_at,
      inviter: { member_pubkey: mesh.owner.publicKey, display_name: 'owner' },
    });

    const joiner = generateIdentity();
    const claimed = await claimShortInvite(tb.url, { code: formatInviteCode(issued.code).toLowerCase(), identity: joiner, displayName: 'shorty', expectMeshId: mesh.meshId });
    expect(claimed).toMatchObject({ mesh_id: mesh.meshId, mesh_name: 'short-codes', rejoined: false, member: { member_pubkey: joiner.publicKey, display_name: 'shorty', role: 'member' } });
    expect(claimed.meshKey).toEqual(mesh.meshKey);

    const inbox: InboundMessage[] = [];
    const owner = await connectClient(tb, mesh, mesh.owner);
    const member = await connectClient(tb, { ...mesh, meshKey: claimed.meshKey }, joiner, {}, inbox);
    try {
      await owner.send('*', 'welcome, shorty');
      await waitFor(() => inbox.length === 1, 'the broadcast at the new member');
      expect(inbox[0]!.text).toBe('welcome, shorty');
    } finally {
      await owner.close();
      await member.close();
    }
  });

  it('stores neither the code, nor the wrap key, nor the mesh key', async () => {
    const issued = await issue();
    const rowsText = JSON.stringify(await db.query('SELECT * FROM invites_v2'));
    expect(rowsText).toContain(issued.record.lookup);
    const wrap = deriveInviteWrapKey(issued.code);
    for (const secret of [issued.code, formatInviteCode(issued.code), toB64u(wrap), toHex(wrap), toB64u(mesh.meshKey), toHex(mesh.meshKey)]) expect(rowsText).not.toContain(secret);
  });

  it('answers a repeated claim by the same key as a rejoin that consumes no use', async () => {
    const issued = await issue({ maxUses: 1 });
    const joiner = generateIdentity();
    expect((await claim(issued.code, 'again-and-again', joiner)).rejoined).toBe(false);
    const again = await claim(issued.code, 'again-and-again', joiner);
    expect(again.rejoined).toBe(true);
    expect(again.meshKey).toEqual(mesh.meshKey);
    const { invites } = await signedRequest<{ invites: InviteResponse[] }>(tb.url, mesh.owner, mesh.meshId, 'GET', `/api/v1/meshes/${mesh.meshId}/invites`);
    expect(invites.find((i) => i.invite_id === issued.registered.invite_id)).toMatchObject({ uses: 1, max_uses: 1, version: 2 });
  });

  it('a joiner refuses a claim whose signed record was issued by someone other than the inviter it was shown', async () => {
    const issued = await issue();
    const resolved = await resolveShortInvite(tb.url, issued.code);
    expect(resolved.inviter.member_pubkey).toBe(mesh.owner.publicKey);
    const claimed = claimShortInvite(tb.url, { code: issued.code, identity: generateIdentity(), displayName: 'wary', expectMeshId: mesh.meshId, expectIssuer: 'f'.repeat(64) });
    await expect(claimed).rejects.toMatchObject({ code: 'E_INVITE_INVALID', message: expect.stringMatching(/someone else than the inviter it named/) });
  });

  it('refuses an unknown code with E_INVITE_NOT_FOUND (404), on resolve and on claim', async () => {
    const code = generateInviteCode();
    expect(await errorOf(resolveShortInvite(tb.url, code))).toBe('E_INVITE_NOT_FOUND');
    expect(await errorOf(claim(code, 'nobody-home'))).toBe('E_INVITE_NOT_FOUND');
    expect(await post('/api/v1/invites/v2/resolve', { lookup: deriveInviteLookup(code) })).toEqual({ status: 404, code: 'E_INVITE_NOT_FOUND' });
  });

  it('refuses an expired invite with E_INVITE_EXPIRED, at registration and at claim', async () => {
    const stale = createShortInvite({ meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: mesh.owner, ttlMs: 1000, now: Date.now() - 10_000 });
    expect(await errorOf(signedRequest(tb.url, mesh.owner, mesh.meshId, 'POST', `/api/v1/meshes/${mesh.meshId}/invites/v2`, stale.record))).toBe('E_INVITE_EXPIRED');
    const brief = await issue({ ttlMs: 1200 });
    await new Promise((r) => setTimeout(r, 1300));
    expect(await errorOf(resolveShortInvite(tb.url, brief.code))).toBe('E_INVITE_EXPIRED');
    expect(await errorOf(claim(brief.code, 'too-late'))).toBe('E_INVITE_EXPIRED');
  });

  it('refuses a revoked invite with E_INVITE_REVOKED; only the owner or the issuing admin revokes', async () => {
    const admin = await addMember(tb, mesh, 'v2-admin', 'admin');
    const member = await addMember(tb, mesh, 'v2-member');
    const byOwner = await issue({ maxUses: 5 });
    const early = generateIdentity();
    await claim(byOwner.code, 'claimed-before-revoke', early);
    expect(await errorOf(revokeShortInvite(tb.url, admin, mesh.meshId, byOwner.registered.invite_id))).toBe('E_FORBIDDEN');
    expect(await errorOf(revokeShortInvite(tb.url, member, mesh.meshId, byOwner.registered.invite_id))).toBe('E_FORBIDDEN');
    const revoked = await revokeShortInvite(tb.url, mesh.owner, mesh.meshId, byOwner.registered.invite_id);
    expect(revoked).toMatchObject({ revoked: true, version: 2 });
    expect((await revokeShortInvite(tb.url, mesh.owner, mesh.meshId, byOwner.registered.invite_id)).revoked).toBe(true);
    expect(await errorOf(claim(byOwner.code, 'after-revoke'))).toBe('E_INVITE_REVOKED');
    // Not even a rejoin: it would hand the wrapped mesh key out again.
    expect(await errorOf(claim(byOwner.code, 'claimed-before-revoke', early))).toBe('E_INVITE_REVOKED');

    const byAdmin = await issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: admin });
    expect((await revokeShortInvite(tb.url, admin, mesh.meshId, byAdmin.registered.invite_id)).revoked).toBe(true);
    expect(await errorOf(revokeShortInvite(tb.url, mesh.owner, mesh.meshId, 'no-such-invite-0'))).toBe('E_NOT_FOUND');
    // A v1 revoke of a v2 id finds nothing: the two kinds keep their own ids.
    expect(await errorOf(signedRequest(tb.url, mesh.owner, mesh.meshId, 'POST', `/api/v1/meshes/${mesh.meshId}/invites/${byAdmin.registered.invite_id}/revoke`, {}))).toBe('E_NOT_FOUND');
  });

  it('refuses an exhausted invite with E_INVITE_EXHAUSTED; a name clash burns no use, and racing claims never exceed max_uses', async () => {
    const one = await issue({ maxUses: 1 });
    expect(await errorOf(claim(one.code, 'owner'))).toBe('E_NAME_TAKEN');
    await claim(one.code, 'the-only-one');
    expect(await errorOf(claim(one.code, 'one-too-many'))).toBe('E_INVITE_EXHAUSTED');

    const three = await issue({ maxUses: 3 });
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => claim(three.code, `v2-racer-${i}`)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'E_INVITE_EXHAUSTED' });
  });

  it('refuses a claim whose signature, x25519 key or timestamp is wrong, before any lookup', async () => {
    const { code } = await issue();
    const id = generateIdentity();
    expect(await post('/api/v1/invites/v2/claim', claimBody(code, id, { display_name: 'someone-else' }))).toEqual({ status: 401, code: 'E_BAD_SIGNATURE' });
    const otherBox = toB64u(generateIdentity().boxPublicKey);
    expect(await post('/api/v1/invites/v2/claim', claimBody(code, id, { x25519_pubkey: otherBox }, { x25519Pubkey: otherBox }))).toEqual({ status: 400, code: 'E_SCHEMA' });
    const old = Date.now() - 10 * 60_000;
    expect(await post('/api/v1/invites/v2/claim', claimBody(code, id, { ts: old }, { ts: old }))).toEqual({ status: 401, code: 'E_STALE_TIMESTAMP' });
    expect(await post('/api/v1/invites/v2/claim', { ...claimBody(code, id), extra: 1 })).toEqual({ status: 400, code: 'E_SCHEMA' });
    // The invite is still intact: nothing above consumed it.
    expect((await claim(code, 'after-the-noise', id)).rejoined).toBe(false);
  });

  it('registers only records the issuer itself signed, for its own mesh, with the right standing', async () => {
    const admin = await addMember(tb, mesh, 'v2-admin-2', 'admin');
    const member = await addMember(tb, mesh, 'v2-member-2');
    const register = (caller: Identity, record: object, meshId = mesh.meshId) => errorOf(signedRequest(tb.url, caller, meshId, 'POST', `/api/v1/meshes/${meshId}/invites/v2`, record));
    const make = (issuer: Identity, over: Partial<Parameters<typeof createShortInvite>[0]> = {}) =>
      createShortInvite({ meshId: mesh.meshId, meshKey: mesh.meshKey, issuer, ...over }).record;
    const code = generateInviteCode();
    const good = make(mesh.owner, { code });
    expect(await register(mesh.owner, { ...good, max_uses: 99 })).toBe('E_INVITE_INVALID');
    expect(await register(mesh.owner, good)).toBe('ok');
    expect(await register(mesh.owner, good)).toBe('ok');
    expect(await register(mesh.owner, make(mesh.owner, { inviteId: good.invite_id }))).toBe('E_CONFLICT');
    expect(await register(mesh.owner, make(mesh.owner, { code }))).toBe('E_CONFLICT');
    expect(await register(mesh.owner, make(admin))).toBe('E_FORBIDDEN');
    expect(await register(member, make(member))).toBe('E_FORBIDDEN');
    expect(await register(admin, make(admin, { role: 'admin' }))).toBe('E_INVITE_INVALID');
    expect(await register(admin, make(admin))).toBe('ok');
    expect(await register(mesh.owner, { ...make(mesh.owner), mesh_id: '00000000-0000-4000-8000-000000000000' })).toBe('E_SCHEMA');
  });

  it('stops honouring an invite whose issuer lost its standing, and a row the broker’s database altered', async () => {
    const admin = await addMember(tb, mesh, 'v2-admin-3', 'admin');
    const fromAdmin = await issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey: mesh.meshKey, issuer: admin, maxUses: 3 });
    await revokeMember(tb.url, mesh.owner, mesh.meshId, admin.publicKey);
    expect(await errorOf(claim(fromAdmin.code, 'via-revoked-admin'))).toBe('E_INVITE_INVALID');

    const tampered = await issue({ maxUses: 1 });
    await db.query('UPDATE invites_v2 SET max_uses = 1000 WHERE id = $1', [tampered.registered.invite_id]);
    expect(await errorOf(claim(tampered.code, 'via-tampered-row'))).toBe('E_INVITE_INVALID');
  });

  it('keeps v1 signed invites working side by side', async () => {
    const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
    expect((await joinMesh(tb.url, { invite, identity: generateIdentity(), displayName: 'still-v1' })).rejoined).toBe(false);
  });
});

/**
 * A broker that lies: it answers the claim with a record it altered, re-signed with its own key, or
 * with a wrapped key it made itself. The SDK must refuse each (E_INVITE_INVALID) instead of trusting it.
 */
describe('a joiner facing a forging broker', () => {
  let server: Server;
  let base: string;
  let answer: (claimBody: { member_pubkey: string }) => unknown;

  beforeAll(async () => {
    const { cryptoReady } = await import('@claudemesh/crypto');
    await cryptoReady();
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(answer(JSON.parse(raw) as { member_pubkey: string })));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const meshId = '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
  const issuer = () => generateIdentity();

  async function claimAgainst(record: object, code: string): Promise<string> {
    const joiner = generateIdentity();
    answer = (b) => ({
      sealed: sealTo(
        canonicalJson({ mesh_id: meshId, mesh_name: 'm', member: { member_pubkey: b.member_pubkey, display_name: 'j', role: 'member', peer_type: 'ai' }, rejoined: false, invite: record }),
        b.member_pubkey,
      ),
    });
    return errorOf(claimShortInvite(base, { code, identity: joiner, displayName: 'j' }));
  }

  it('accepts the genuine record, and refuses an altered, re-signed or re-wrapped one', async () => {
    const owner = issuer();
    const meshKey = new Uint8Array(32).fill(7);
    const { code, record } = createShortInvite({ meshId, meshKey, issuer: owner });
    expect(await claimAgainst(record, code)).toBe('ok');
    expect(await claimAgainst({ ...record, role: 'admin' }, code)).toBe('E_INVITE_INVALID');
    const broker = issuer();
    const forged = createShortInvite({ meshId, meshKey: new Uint8Array(32).fill(9), issuer: broker, code: generateInviteCode() }).record;
    expect(await claimAgainst({ ...forged, lookup: record.lookup }, code)).toBe('E_INVITE_INVALID');
    // Without the code the broker can still copy the lookup and the wrapped key into a record it signs itself.
    const elevated = { ...record, role: 'admin' as const, issuer: broker.publicKey };
    const resigned = { ...elevated, sig: sign(shortInviteString({ meshId, inviteId: elevated.invite_id, lookup: elevated.lookup, wrappedMeshKey: elevated.wrapped_mesh_key, role: 'admin', maxUses: elevated.max_uses, expiresAt: elevated.expires_at, issuer: broker.publicKey }), broker.secretKey) };
    expect(await claimAgainst(resigned, code)).toBe('E_INVITE_INVALID');
  });

  it('refuses an answer not sealed to the joiner', async () => {
    const { code, record } = createShortInvite({ meshId, meshKey: new Uint8Array(32), issuer: issuer() });
    answer = () => ({ sealed: sealTo(canonicalJson({ invite: record }), generateIdentity().publicKey) });
    expect(await errorOf(claimShortInvite(base, { code, identity: generateIdentity(), displayName: 'j' }))).toBe('E_INVITE_INVALID');
  });
});

/** Opening `<broker>/i/<code>` in a browser sends the code to the broker: it must not keep it anywhere. */
describe('the short-link landing page', () => {
  let tb: TestBroker;

  beforeAll(async () => {
    // Verbose, so that the test would see a logged code; Nest's start-up chatter stays out of the run's output.
    const quiet = [vi.spyOn(process.stdout, 'write').mockImplementation(() => true), vi.spyOn(process.stderr, 'write').mockImplementation(() => true)];
    try {
      tb = await startTestBroker('embedded', { LOG_LEVEL: 'verbose' });
    } finally {
      for (const spy of quiet) spy.mockRestore();
    }
  });
  afterAll(async () => tb?.close());

  it('serves a no-store, no-referrer page that names the join command and never echoes or logs the code', async () => {
    const code = formatInviteCode(generateInviteCode());
    const written: string[] = [];
    const capture = (chunk: unknown): boolean => {
      written.push(String(chunk));
      return true;
    };
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    let res: Response;
    let html: string;
    try {
      res = await fetch(`${tb.url}/i/${code}`);
      html = await res.text();
      await fetch(`${tb.url}/i/${code}?x=1`, { method: 'HEAD' });
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(html).toContain('claudemesh join');
    expect(html).toMatch(/sent the code to this broker/);
    expect(html).not.toContain(code);
    expect(written.join('')).not.toContain(code);
    expect(written.join('')).not.toContain(code.replaceAll('-', ''));
  });
});
