import { CLIENT_FRAME_SCHEMAS, formatSignedRequestAuth, issueShortInvite, nextRequestTs, revokeMember, signedRequest } from '@claudemesh/core';
import {
  createInvite, createShortInvite, deriveInviteLookup, generateIdentity, requestString, sha256Hex, shortInviteClaimString, sign, toB64u,
  type Identity,
} from '@claudemesh/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';

/** `replayed`: a request the owner signed, captured and sent a second time (protocol §8.1). */
type Caller = 'anonymous' | 'bad-signature' | 'non-member' | 'revoked' | 'member' | 'admin' | 'owner' | 'replayed';
const CALLERS: Caller[] = ['anonymous', 'bad-signature', 'non-member', 'revoked', 'member', 'admin', 'owner', 'replayed'];
const OK = 'ok';

/**
 * Every REST route × every kind of caller (a replayed request among them), and every frame type before authentication. Runs on the
 * embedded database only: authorization is decided in the services, the same code for both databases.
 */
describe('authorization matrix', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const ids = {} as Record<Exclude<Caller, 'anonymous' | 'bad-signature' | 'replayed'>, Identity>;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'authz');
    ids.owner = mesh.owner;
    ids['non-member'] = generateIdentity();
    ids.member = await addMember(tb, mesh, 'member');
    ids.admin = await addMember(tb, mesh, 'admin', 'admin');
    ids.revoked = await addMember(tb, mesh, 'revoked');
    await revokeMember(tb.url, mesh.owner, mesh.meshId, ids.revoked.publicKey);
  });
  afterAll(async () => tb?.close());

  /** Calls a member route as `caller`; resolves to 'ok' or the error code. */
  async function call(caller: Caller, method: string, path: string, body?: unknown): Promise<string> {
    if (caller === 'anonymous' || caller === 'bad-signature') {
      const raw = body === undefined ? '' : JSON.stringify(body);
      const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
      if (caller === 'bad-signature') {
        const ts = Date.now();
        const sig = sign(requestString({ method, path: `${path}?tampered`, meshId: mesh.meshId, ts, bodySha256Hex: sha256Hex(raw) }), ids.member.secretKey);
        headers['authorization'] = formatSignedRequestAuth({ pubkey: ids.member.publicKey, ts, sig });
      }
      const res = await fetch(`${tb.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: raw }) });
      return res.ok ? OK : ((await res.json()) as { error: { code: string } }).error.code;
    }
    if (caller === 'replayed') {
      const raw = body === undefined ? '' : JSON.stringify(body);
      const ts = nextRequestTs();
      const sig = sign(requestString({ method, path, meshId: mesh.meshId, ts, bodySha256Hex: sha256Hex(raw) }), mesh.owner.secretKey);
      const headers: Record<string, string> = { authorization: formatSignedRequestAuth({ pubkey: mesh.owner.publicKey, ts, sig }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
      const send = () => fetch(`${tb.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: raw }) });
      await send();
      const res = await send();
      return res.ok ? OK : ((await res.json()) as { error: { code: string } }).error.code;
    }
    try {
      await signedRequest(tb.url, ids[caller], mesh.meshId, method, path, body);
      return OK;
    } catch (error) {
      return (error as { code: string }).code;
    }
  }

  const base = () => `/api/v1/meshes/${mesh.meshId}`;
  /** Who signs as `caller` (the anonymous and forged callers present a member's invite). */
  const signer = (caller: Caller): Identity => (caller === 'anonymous' || caller === 'bad-signature' ? ids.member : caller === 'replayed' ? mesh.owner : ids[caller]);
  const invitedBy = (caller: Caller) => createInvite({ meshId: mesh.meshId, meshName: 'authz', brokerUrl: tb.url, issuer: signer(caller) });

  const meshKey = new Uint8Array(32).fill(0x42);
  const shortInvitedBy = (caller: Caller) =>
    createShortInvite({ meshId: mesh.meshId, meshKey, issuer: signer(caller) }).record;
  /** A v2 invite registered by `issuer`, to be revoked by each caller in turn. */
  const revokeShort = async (c: Caller, issuer: Identity): Promise<string> => {
    const { registered } = await issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey, issuer });
    return call(c, 'POST', `${base()}/invites/v2/${registered.invite_id}/revoke`, {});
  };

  const denied = { anonymous: 'E_UNAUTHORIZED', 'bad-signature': 'E_BAD_SIGNATURE', 'non-member': 'E_NOT_MEMBER', revoked: 'E_REVOKED', replayed: 'E_REPLAY' } as const;
  const matrix: Array<{ route: string; expect: Record<Caller, string>; run: (caller: Caller) => Promise<string> }> = [
    {
      route: 'GET /meshes/:id/members',
      expect: { ...denied, member: OK, admin: OK, owner: OK },
      run: (c) => call(c, 'GET', `${base()}/members`),
    },
    {
      route: 'POST /meshes/:id/invites',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: (c) => call(c, 'POST', `${base()}/invites`, invitedBy(c)),
    },
    {
      route: 'GET /meshes/:id/invites',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: (c) => call(c, 'GET', `${base()}/invites`),
    },
    {
      route: 'GET /meshes/:id/invites/email',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: (c) => call(c, 'GET', `${base()}/invites/email`),
    },
    {
      route: 'POST /meshes/:id/invites/:invite/revoke (an invite the owner issued)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: 'E_FORBIDDEN', owner: OK },
      run: async (c) => {
        const inv = createInvite({ meshId: mesh.meshId, meshName: 'authz', brokerUrl: tb.url, issuer: mesh.owner });
        await signedRequest(tb.url, mesh.owner, mesh.meshId, 'POST', `${base()}/invites`, inv);
        return call(c, 'POST', `${base()}/invites/${inv.payload.invite_id}/revoke`, {});
      },
    },
    {
      route: 'POST /meshes/:id/invites/v2',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: (c) => call(c, 'POST', `${base()}/invites/v2`, shortInvitedBy(c)),
    },
    {
      route: 'POST /meshes/:id/invites/v2/:invite/revoke (an invite the owner issued)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: 'E_FORBIDDEN', owner: OK },
      run: (c) => revokeShort(c, mesh.owner),
    },
    {
      route: 'POST /meshes/:id/invites/v2/:invite/revoke (an invite the admin issued)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: (c) => revokeShort(c, ids.admin),
    },
    {
      route: 'POST /meshes/:id/members/:pubkey/revoke (a plain member)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: async (c) => call(c, 'POST', `${base()}/members/${(await addMember(tb, mesh, `target-${Math.random().toString(36).slice(2, 8)}`)).publicKey}/revoke`, {}),
    },
    {
      route: 'POST /meshes/:id/members/:pubkey/revoke (an admin)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: 'E_FORBIDDEN', owner: OK },
      run: async (c) => call(c, 'POST', `${base()}/members/${(await addMember(tb, mesh, `adm-${Math.random().toString(36).slice(2, 8)}`, 'admin')).publicKey}/revoke`, {}),
    },
    {
      route: 'PATCH /meshes/:id/members/me (each caller keeps its own name)',
      expect: { ...denied, member: OK, admin: OK, owner: OK },
      run: (c) => call(c, 'PATCH', `${base()}/members/me`, { display_name: c === 'non-member' ? 'stranger' : c }),
    },
    {
      route: 'PUT /meshes/:id/members/:pubkey/scope (a plain member\'s)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: async (c) => call(c, 'PUT', `${base()}/members/${(await addMember(tb, mesh, `sc-${Math.random().toString(36).slice(2, 8)}`)).publicKey}/scope`, { scope: { capabilities: ['read'], topics: null } }),
    },
    {
      route: 'PUT /meshes/:id/members/:pubkey/scope (an admin\'s)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: 'E_FORBIDDEN', owner: OK },
      run: async (c) => call(c, 'PUT', `${base()}/members/${(await addMember(tb, mesh, `sca-${Math.random().toString(36).slice(2, 8)}`, 'admin')).publicKey}/scope`, { scope: { capabilities: ['read'], topics: null } }),
    },
    {
      route: 'PUT /meshes/:id/members/:pubkey/scope (the owner\'s)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: 'E_FORBIDDEN', owner: OK },
      // Every capability and any topic: the owner confined this way can still do everything.
      run: (c) => call(c, 'PUT', `${base()}/members/${mesh.owner.publicKey}/scope`, { scope: { capabilities: ['admin', 'read', 'send'], topics: null } }),
    },
    {
      route: 'PUT /meshes/:id/members/:pubkey/scope (your own, narrowed to every capability)',
      expect: { ...denied, member: OK, admin: OK, owner: OK },
      run: (c) => call(c, 'PUT', `${base()}/members/${signer(c).publicKey}/scope`, { scope: { capabilities: ['admin', 'read', 'send'], topics: null } }),
    },
    {
      route: 'POST /meshes/:id/apikeys (a read key for yourself)',
      expect: { ...denied, member: OK, admin: OK, owner: OK },
      run: (c) => call(c, 'POST', `${base()}/apikeys`, { label: c, capabilities: ['read'] }),
    },
    {
      route: 'POST /meshes/:id/apikeys (an admin key)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: (c) => call(c, 'POST', `${base()}/apikeys`, { capabilities: ['admin'] }),
    },
    {
      route: 'POST /meshes/:id/apikeys (enrolling a REST-only human)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: (c) => call(c, 'POST', `${base()}/apikeys`, { capabilities: ['read', 'send'], human: `human-${c}` }),
    },
    {
      route: 'GET /meshes/:id/analytics',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: (c) => call(c, 'GET', `${base()}/analytics?window=24h`),
    },
    {
      route: 'GET /meshes/:id/apikeys',
      expect: { ...denied, member: OK, admin: OK, owner: OK },
      run: (c) => call(c, 'GET', `${base()}/apikeys`),
    },
    {
      route: 'DELETE /meshes/:id/apikeys/:key (a key the owner holds)',
      expect: { ...denied, member: 'E_FORBIDDEN', admin: OK, owner: OK },
      run: async (c) => {
        const key = await signedRequest<{ id: string }>(tb.url, mesh.owner, mesh.meshId, 'POST', `${base()}/apikeys`, { capabilities: ['read'] });
        return call(c, 'DELETE', `${base()}/apikeys/${key.id}`);
      },
    },
  ];

  for (const row of matrix) {
    it(`${row.route}: ${CALLERS.map((c) => `${c}→${row.expect[c]}`).join(', ')}`, async () => {
      const got: Record<string, string> = {};
      for (const caller of CALLERS) got[caller] = await row.run(caller);
      expect(got).toEqual(row.expect);
    });
  }

  it('POST /meshes: only the operator admin token creates a mesh', async () => {
    const body = (token?: string) =>
      fetch(`${tb.url}/api/v1/meshes`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: '{}' });
    expect(((await (await body()).json()) as { error: { code: string } }).error.code).toBe('E_UNAUTHORIZED');
    expect(((await (await body('x'.repeat(27))).json()) as { error: { code: string } }).error.code).toBe('E_UNAUTHORIZED');
    // With the token the request reaches validation (and fails there on the empty body).
    expect(((await (await body(tb.adminToken)).json()) as { error: { code: string } }).error.code).toBe('E_SCHEMA');
  });

  it('public routes need no credentials: /healthz, /readyz, /join, /i/:code', async () => {
    for (const path of ['/healthz', '/readyz', '/join', '/i/ABCD-EFGH-JKMN-PQRS']) expect((await fetch(`${tb.url}${path}`)).status, path).toBe(200);
  });

  it('POST /invites/v2/resolve and /invites/v2/claim: the code (its lookup) is the only credential; a header changes nothing', async () => {
    const { code } = await issueShortInvite(tb.url, { meshId: mesh.meshId, meshKey, issuer: mesh.owner, maxUses: 2 });
    const lookup = deriveInviteLookup(code);
    const post = async (path: string, body: unknown, authorization?: string): Promise<string> => {
      const res = await fetch(`${tb.url}/api/v1/invites/v2/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(body),
      });
      return res.ok ? OK : ((await res.json()) as { error: { code: string } }).error.code;
    };
    const claimBy = (id: Identity, displayName: string) => {
      const ts = Date.now();
      const x25519 = toB64u(id.boxPublicKey);
      const sig = sign(shortInviteClaimString({ lookup, memberPubkey: id.publicKey, x25519Pubkey: x25519, displayName, peerType: 'ai', ts }), id.secretKey);
      return { lookup, member_pubkey: id.publicKey, x25519_pubkey: x25519, display_name: displayName, peer_type: 'ai', ts, sig };
    };
    const garbage = formatSignedRequestAuth({ pubkey: ids.member.publicKey, ts: 0, sig: 'A'.repeat(86) });
    expect(await post('resolve', { lookup })).toBe(OK);
    expect(await post('resolve', { lookup }, garbage)).toBe(OK);
    expect(await post('resolve', { lookup: deriveInviteLookup('0000000000000000') })).toBe('E_INVITE_NOT_FOUND');
    expect(await post('claim', claimBy(generateIdentity(), 'v2-anon'))).toBe(OK);
    expect(await post('claim', claimBy(generateIdentity(), 'v2-with-header'), garbage)).toBe(OK);
    // A revoked member cannot come back through a code, and an existing one just rejoins.
    expect(await post('claim', claimBy(ids.revoked, 'revoked-again'))).toBe('E_REVOKED');
    expect(await post('claim', claimBy(ids.member, 'member'))).toBe(OK);
  });

  it('answers every frame type but hello with E_NOT_AUTHENTICATED before hello', async () => {
    const peer = await RawPeer.connect(tb.wsUrl);
    const samples: Record<string, unknown> = {
      send: { type: 'send', id: 'authz-send-1', to: 'member', nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(40) },
      delivered: { type: 'delivered', message_ids: ['1'] },
      read: { type: 'read', message_ids: ['1'] },
      list_peers: { type: 'list_peers', req_id: 'a' },
      set_summary: { type: 'set_summary', summary: 'x' },
      set_status: { type: 'set_status', status: 'idle' },
      set_tags: { type: 'set_tags', tags: ['repo:billing'] },
      join_group: { type: 'join_group', group: 'g' },
      leave_group: { type: 'leave_group', group: 'g' },
      message_status: { type: 'message_status', req_id: 'b', message_ids: ['1'] },
      set_grants: { type: 'set_grants', req_id: 'c', peer: 'a'.repeat(64), capabilities: [], blocked: true },
      list_grants: { type: 'list_grants', req_id: 'd' },
      state_set: { type: 'state_set', req_id: 'e', key: 'k', version: 1, nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(40) },
      state_get: { type: 'state_get', req_id: 'f' },
      topic_send: { type: 'topic_send', id: 'authz-topic-1', topic: 'general', text: 'x' },
      topic_history: { type: 'topic_history', req_id: 'g', topic: 'general' },
      epoch_publish: {
        type: 'epoch_publish',
        req_id: 'h',
        manifest: {
          manifest: {
            v: 1, mesh_id: mesh.meshId, scope: 'topic:general', epoch: 1, prev_epoch_hash: null, members: [ids.member.publicKey], reason: 'create',
            created_by: ids.member.publicKey, created_at: 1, key_commitment: 'A'.repeat(43),
          },
          sig: 'A'.repeat(86),
        },
        seals: [],
      },
      epoch_get: { type: 'epoch_get', req_id: 'i', scope: 'topic:general' },
      epoch_seal: { type: 'epoch_seal', req_id: 'j', scope: 'mesh', epoch: 1, seals: [{ recipient: 'a'.repeat(64), sealer: 'b'.repeat(64), sealed: 'A'.repeat(107), sig: 'A'.repeat(86) }] },
    };
    const types = Object.keys(CLIENT_FRAME_SCHEMAS).filter((t) => t !== 'hello');
    expect(Object.keys(samples).sort()).toEqual(types.sort());
    // A connection may send 16 frames before hello (§1.2): a fresh one for each batch of types.
    const peers = [peer];
    for (const [i, type] of types.entries()) {
      if (i > 0 && i % 12 === 0) peers.push(await RawPeer.connect(tb.wsUrl));
      const p = peers[peers.length - 1]!;
      p.send(samples[type]);
      expect((await p.next('error'))['code'], type).toBe('E_NOT_AUTHENTICATED');
    }
    for (const p of peers) {
      expect(p.closed).toBeNull();
      p.close();
    }
  });
});
