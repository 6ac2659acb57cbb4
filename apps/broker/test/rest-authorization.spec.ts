import type { ApiKeyInfo, CreatedApiKey, MemberPresence, TopicInfo, TopicMember, TopicMessage } from '@claudemesh/core';
import { EpochKeyring, MeshApi, TOPIC_LIMITS, signedRequest, syncEpochs } from '@claudemesh/core';
import { topicScope, type Identity } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { api, cell, issueKey } from './bearer-api.js';
import { randomBytes } from 'node:crypto';

const randomB64u = (n: number): string => randomBytes(n).toString('base64url');

type Caller = 'none' | 'malformed' | 'unknown' | 'revoked' | 'expired' | 'other-mesh' | 'read' | 'send' | 'scoped' | 'admin';
const CALLERS: Caller[] = ['none', 'malformed', 'unknown', 'revoked', 'expired', 'other-mesh', 'read', 'send', 'scoped', 'admin'];

const UNAUTHORIZED = '401 E_UNAUTHORIZED';
const FORBIDDEN = '403 E_FORBIDDEN';
const NOT_FOUND = '404 E_NOT_FOUND';

interface Row {
  /** As the OpenAPI document names the operation (path under /api/v1). */
  route: string;
  expect: Record<Caller, string>;
  run: (auth: string | null) => Promise<string>;
  /** Puts the world back before each caller (e.g. rejoins the topic a caller just left). */
  before?: () => Promise<unknown>;
}

/**
 * Expected cells for a route needing `need`: every bad key is 401 whatever the route; a key of
 * another mesh does not find this mesh's #ops (404) but uses its own mesh's lists; a key lacking the
 * capability, or limited to #general, is 403.
 */
function expected(need: 'read' | 'send' | 'admin', ok: '200' | '201', onTopic: boolean, over: Partial<Record<Caller, string>> = {}): Record<Caller, string> {
  const has = (c: 'read' | 'send' | 'admin') => (c === need ? ok : FORBIDDEN);
  return {
    none: UNAUTHORIZED,
    malformed: UNAUTHORIZED,
    unknown: UNAUTHORIZED,
    revoked: UNAUTHORIZED,
    expired: UNAUTHORIZED,
    'other-mesh': onTopic ? NOT_FOUND : ok,
    read: has('read'),
    send: has('send'),
    scoped: need === 'admin' || onTopic ? FORBIDDEN : ok,
    admin: has('admin'),
    ...over,
  };
}

/**
 * Every REST `/api/v1` bearer route × every kind of caller (docs/topics.md): no header, bad keys,
 * a key of another mesh, keys with one capability each, and a key limited to #general. Plus
 * isolation between meshes, private topics, bad input and unknown topics.
 */
describe.each(dbKinds())('REST /api/v1 authorization on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let other: TestMesh;
  let alice: Identity;
  /** The owner's key with every capability: sets the scene, is not a column. */
  let full: string;
  const keys = {} as Record<Caller, string | null>;
  const fresh = (() => {
    let n = 0;
    return (prefix: string) => `${prefix}-${++n}`;
  })();

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'authz-a');
    other = await createTestMesh(tb, 'authz-b');
    alice = await addMember(tb, mesh, 'alice');
    const owner = (body: Parameters<typeof issueKey>[3]) => issueKey(tb, mesh, mesh.owner, body).then((k) => k.secret);
    full = await owner({ label: 'full', capabilities: ['read', 'send', 'admin'] });
    await api(tb, full, 'POST', '/topics', { name: 'ops', encryption: 'plaintext' });
    await api(tb, full, 'POST', '/topics/ops/messages', { text: 'deploy at noon' });

    keys.none = null;
    keys.malformed = 'Bearer cmk_not-a-key';
    keys.unknown = `cmk_${'0'.repeat(16)}_${'A'.repeat(43)}`;
    const revoked = await issueKey(tb, mesh, mesh.owner, { label: 'revoked', capabilities: ['read', 'send', 'admin'] });
    await api(tb, full, 'DELETE', `/apikeys/${revoked.id}`);
    keys.revoked = revoked.secret;
    const expired = await issueKey(tb, mesh, mesh.owner, { label: 'expired', capabilities: ['read', 'send', 'admin'], expires_in_s: 10 });
    // Waiting out the 10 s minimum would only slow the suite: move its expiry into the past.
    await tb.broker.app.get(DataSource).query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.id]);
    keys.expired = expired.secret;
    keys['other-mesh'] = (await issueKey(tb, other, other.owner, { label: 'b', capabilities: ['read', 'send', 'admin'] })).secret;
    keys.read = await owner({ label: 'read', capabilities: ['read'] });
    keys.send = await owner({ label: 'send', capabilities: ['send'] });
    keys.scoped = await owner({ label: 'scoped', capabilities: ['read', 'send'], topics: ['general'] });
    keys.admin = await owner({ label: 'admin', capabilities: ['admin'] });
  });
  afterAll(async () => tb?.close());

  const call = (method: string, path: string, body?: unknown | (() => unknown)) => async (auth: string | null) =>
    cell(await api(tb, auth, method, path, typeof body === 'function' ? (body as () => unknown)() : body));

  /** An SSE request: the status once headers arrive (the stream itself is the stream spec's business). */
  const stream = (path: string) => async (auth: string | null) => {
    const abort = new AbortController();
    const res = await fetch(`${tb.url}/api/v1${path}`, { headers: auth === null ? {} : { authorization: auth.startsWith('cmk_') ? `Bearer ${auth}` : auth }, signal: abort.signal });
    if (res.ok) {
      abort.abort();
      return String(res.status);
    }
    return cell({ status: res.status, body: await res.json() });
  };

  /** A fresh key like the one `auth` is (same mesh, capabilities, topics); a bad key stays itself. */
  const twin = async (auth: string | null): Promise<string | null> => {
    const like: Partial<Record<Caller, [TestMesh, Parameters<typeof issueKey>[3]]>> = {
      'other-mesh': [other, { capabilities: ['read', 'send', 'admin'] }],
      read: [mesh, { capabilities: ['read'] }],
      send: [mesh, { capabilities: ['send'] }],
      scoped: [mesh, { capabilities: ['read', 'send'], topics: ['general'] }],
      admin: [mesh, { capabilities: ['admin'] }],
    };
    const caller = CALLERS.find((c) => keys[c] === auth);
    const spec = caller ? like[caller] : undefined;
    return spec ? (await issueKey(tb, spec[0], spec[0].owner, { label: 'twin', ...spec[1] })).secret : auth;
  };

  const rejoinOps = () => api(tb, full, 'POST', '/topics/ops/join');

  /** The owner's keyring for #ops, kept current over REST with the full key: each publish row builds the next epoch. */
  let opsRing: EpochKeyring | null = null;
  const nextOpsEpoch = async (): Promise<unknown> => {
    opsRing ??= new EpochKeyring({ me: mesh.owner, meshId: mesh.meshId, authorities: (_scope, epoch) => (epoch === 1 ? [mesh.owner.publicKey] : []) });
    await syncEpochs(new MeshApi(tb.url, full), opsRing, topicScope('ops'));
    const next = opsRing.rotate(topicScope('ops'), { members: [mesh.owner.publicKey], reason: opsRing.currentEpoch(topicScope('ops')) === 0 ? 'create' : 'scheduled' });
    return { manifest: next.signed, seals: next.seals };
  };
  /** Epoch 1 of #ops, published once with the full key, for the seal row. */
  const opsEpochOne = async (): Promise<void> => {
    const page = await new MeshApi(tb.url, full).epochs('ops');
    if (page.current_epoch === 0) expect(cell(await api(tb, full, 'POST', '/topics/ops/epochs', await nextOpsEpoch()))).toBe('201');
  };

  const matrix: Row[] = [
    { route: 'GET /me', expect: expected('read', '200', false), run: call('GET', '/me') },
    { route: 'GET /me/topics', expect: expected('read', '200', false), run: call('GET', '/me/topics') },
    { route: 'GET /me/notifications', expect: expected('read', '200', false), run: call('GET', '/me/notifications') },
    { route: 'GET /me/activity', expect: expected('read', '200', false), run: call('GET', '/me/activity?limit=5') },
    { route: 'GET /topics', expect: expected('read', '200', false), run: call('GET', '/topics') },
    // A topic-scoped key cannot create topics; another mesh's key creates one in its own mesh.
    { route: 'POST /topics', expect: expected('send', '201', false, { scoped: FORBIDDEN }), run: call('POST', '/topics', () => ({ name: fresh('new') })) },
    { route: 'GET /topics/{name}', expect: expected('read', '200', true), run: call('GET', '/topics/ops') },
    { route: 'POST /topics/{name}/join', expect: expected('send', '200', true), run: call('POST', '/topics/ops/join') },
    { route: 'POST /topics/{name}/leave', expect: expected('send', '200', true), run: call('POST', '/topics/ops/leave'), before: rejoinOps },
    { route: 'GET /topics/{name}/members', expect: expected('read', '200', true), run: call('GET', '/topics/ops/members') },
    { route: 'POST /topics/{name}/members', expect: expected('send', '200', true), run: call('POST', '/topics/ops/members', { member: 'alice' }), before: rejoinOps },
    { route: 'GET /topics/{name}/messages', expect: expected('read', '200', true), run: call('GET', '/topics/ops/messages') },
    { route: 'POST /topics/{name}/messages', expect: expected('send', '201', true), run: call('POST', '/topics/ops/messages', { text: 'status?' }) },
    { route: 'PATCH /topics/{name}/read', expect: expected('send', '200', true), run: call('PATCH', '/topics/ops/read', {}) },
    { route: 'GET /topics/{name}/epochs', expect: expected('read', '200', true), run: call('GET', '/topics/ops/epochs') },
    // The keys are the owner's: a manifest the owner made and signed, built on the current epoch before each caller.
    {
      route: 'POST /topics/{name}/epochs',
      expect: expected('send', '201', true),
      run: async (auth) => cell(await api(tb, auth, 'POST', '/topics/ops/epochs', await nextOpsEpoch())),
    },
    { route: 'POST /topics/{name}/epochs/{epoch}/seals', expect: expected('send', '200', true), run: call('POST', '/topics/ops/epochs/1/seals', { seals: [] }), before: opsEpochOne },
    { route: 'GET /topics/{name}/stream', expect: expected('read', '200', true), run: stream('/topics/ops/stream') },
    { route: 'POST /messages', expect: expected('send', '201', true), run: call('POST', '/messages', { topic: 'ops', text: 'by body' }) },
    { route: 'GET /messages', expect: expected('read', '200', true), run: call('GET', '/messages?topic=ops') },
    { route: 'GET /members', expect: expected('read', '200', false), run: call('GET', '/members') },
    { route: 'GET /peers', expect: expected('read', '200', false), run: call('GET', '/peers') },
    { route: 'GET /notifications', expect: expected('read', '200', false), run: call('GET', '/notifications?unread=true') },
    { route: 'POST /notifications/read', expect: expected('send', '200', false), run: call('POST', '/notifications/read', {}) },
    { route: 'GET /search', expect: expected('read', '200', false), run: call('GET', '/search?q=deploy') },
    { route: 'GET /apikeys', expect: expected('admin', '200', false), run: call('GET', '/apikeys') },
    // Mesh analytics: an owner's or admin's admin key; another mesh's owner key reads its own mesh.
    { route: 'GET /analytics', expect: expected('admin', '200', false), run: call('GET', '/analytics?window=7d') },
    // A key issues only capabilities it has: the admin-only key issues an admin key.
    { route: 'POST /apikeys', expect: expected('admin', '201', false), run: call('POST', '/apikeys', { capabilities: ['admin'] }) },
    {
      route: 'DELETE /apikeys/{id}',
      // Another mesh's admin key does not find this mesh's key.
      expect: expected('admin', '200', false, { 'other-mesh': NOT_FOUND }),
      run: async (auth) => {
        const target = (await api<CreatedApiKey>(tb, full, 'POST', '/apikeys', { label: 'target', capabilities: ['read'] })).body;
        return call('DELETE', `/apikeys/${target.id}`)(auth);
      },
    },
    // A key revokes itself: each caller's twin (a fresh key like it), so the columns stay usable.
    { route: 'DELETE /me/apikey', expect: expected('read', '200', false), run: async (auth) => call('DELETE', '/me/apikey')(await twin(auth)) },
    // Every member behind these keys holds a key already: a claim is refused after the capability check.
    {
      route: 'POST /me/identity',
      expect: expected('send', '200', false, { send: '409 E_CONFLICT', scoped: '409 E_CONFLICT', 'other-mesh': '409 E_CONFLICT' }),
      run: call('POST', '/me/identity', { member_pubkey: 'ab'.repeat(32), sig: 'A'.repeat(86) }),
    },
    // Any key deposits its own sealed copy for a sign-in link; the broker cannot check what it cannot open.
    { route: 'POST /web/signins', expect: expected('read', '201', false), run: call('POST', '/web/signins', () => ({ lookup: randomB64u(32), sealed: randomB64u(60) })) },
    { route: 'GET /web/push', expect: expected('read', '200', false), run: call('GET', '/web/push') },
    // A subscription per key (5 at most): an endpoint that never resolves (.invalid), keys of the right sizes.
    {
      route: 'POST /me/push',
      expect: expected('read', '201', false),
      run: call('POST', '/me/push', () => ({ endpoint: `https://push.invalid/${randomB64u(16)}`, keys: { p256dh: randomB64u(65), auth: randomB64u(16) } })),
    },
    { route: 'DELETE /me/push', expect: expected('read', '200', false), run: call('DELETE', '/me/push', {}) },
  ];

  it('covers every bearer operation of the OpenAPI document', async () => {
    const doc = (await (await fetch(`${tb.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, { security?: Array<Record<string, unknown>> }>> };
    const bearer = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.security?.some((s) => 'bearer' in s))
        .map(([method]) => `${method.toUpperCase()} ${path.replace(/^\/api\/v1/, '')}`),
    );
    expect(matrix.map((r) => r.route).sort()).toEqual(bearer.sort());
  });

  for (const row of matrix) {
    it(`${row.route}: ${CALLERS.map((c) => `${c}→${row.expect[c]}`).join(', ')}`, async () => {
      const got = {} as Record<Caller, string>;
      for (const caller of CALLERS) {
        await row.before?.();
        got[caller] = await row.run(keys[caller]);
      }
      expect(got).toEqual(row.expect);
    });
  }

  it('says why a key is refused: malformed, unknown, revoked, expired, missing capability', async () => {
    const message = async (auth: string | null, path = '/topics') => ((await api<{ error: { message: string } }>(tb, auth, 'GET', path)).body.error.message);
    expect(await message(null)).toMatch(/Authorization: Bearer/);
    expect(await message(keys.malformed)).toMatch(/malformed/);
    expect(await message(keys.unknown)).toMatch(/unknown/);
    expect(await message(keys.revoked)).toMatch(/revoked/);
    expect(await message(keys.expired)).toMatch(/expired/);
    expect(await message(keys.send)).toMatch(/lacks the read capability/);
    expect((await api<{ error: { message: string } }>(tb, keys.read, 'POST', '/topics', { name: 'x' })).body.error.message).toMatch(/lacks the send capability/);
    expect((await api<{ error: { message: string } }>(tb, keys.read, 'GET', '/apikeys')).body.error.message).toMatch(/lacks the admin capability/);
  });

  it('revokes a key from its very next request, over REST and with the signed route', async () => {
    for (const revoke of ['rest', 'signed'] as const) {
      const key = await issueKey(tb, mesh, alice, { label: `soon-${revoke}`, capabilities: ['read'] });
      expect(cell(await api(tb, key.secret, 'GET', '/topics'))).toBe('200');
      if (revoke === 'rest') expect(cell(await api(tb, full, 'DELETE', `/apikeys/${key.id}`))).toBe('200');
      else await signedRequest(tb.url, alice, mesh.meshId, 'DELETE', `/api/v1/meshes/${mesh.meshId}/apikeys/${key.id}`);
      const after = await api<{ error: { message: string } }>(tb, key.secret, 'GET', '/topics');
      expect([after.status, after.body.error.message]).toEqual([401, 'this API key has been revoked']);
    }
  });

  it('limits a topic-scoped key to its topics: lists, search, activity, members and the keys it issues', async () => {
    const scoped = keys.scoped!;
    expect((await api<TopicInfo[]>(tb, scoped, 'GET', '/topics')).body.map((t) => t.name)).toEqual(['general']);
    expect((await api<TopicInfo[]>(tb, full, 'GET', '/topics')).body.map((t) => t.name)).toContain('ops');
    await api(tb, full, 'POST', '/topics/general/messages', { text: 'deploy notes for everyone' });
    expect((await api<TopicMessage[]>(tb, scoped, 'GET', '/search?q=deploy')).body.map((m) => m.topic)).toEqual(['general']);
    expect(cell(await api(tb, scoped, 'GET', '/search?q=deploy&topic=ops'))).toBe(FORBIDDEN);
    expect(new Set((await api<TopicMessage[]>(tb, scoped, 'GET', '/me/activity')).body.map((m) => m.topic))).toEqual(new Set(['general']));

    // A key limited to #ops sees the members of #ops (and its own member), not the whole mesh.
    const opsOnly = (await issueKey(tb, mesh, alice, { label: 'ops only', capabilities: ['read'], topics: ['ops'] })).secret;
    const opsMembers = (await api<TopicMember[]>(tb, full, 'GET', '/topics/ops/members')).body.map((m) => m.display_name);
    const shown = (await api<MemberPresence[]>(tb, opsOnly, 'GET', '/members')).body.map((m) => m.display_name);
    expect(shown.sort()).toEqual([...new Set([...opsMembers, 'alice'])].sort());

    const scopedAdmin = (await issueKey(tb, mesh, mesh.owner, { label: 'scoped admin', capabilities: ['read', 'admin'], topics: ['general'] })).secret;
    expect(cell(await api(tb, scopedAdmin, 'POST', '/apikeys', { capabilities: ['read'] }))).toBe(FORBIDDEN);
    expect(cell(await api(tb, scopedAdmin, 'POST', '/apikeys', { capabilities: ['read'], topics: ['ops'] }))).toBe(FORBIDDEN);
    expect(cell(await api(tb, scopedAdmin, 'POST', '/apikeys', { capabilities: ['read'], topics: ['general'] }))).toBe('201');
  });

  it('lets an admin key issue only capabilities it has itself', async () => {
    const adminOnly = keys.admin!;
    expect(cell(await api(tb, adminOnly, 'POST', '/apikeys', { capabilities: ['read'] }))).toBe(FORBIDDEN);
    expect((await api<{ error: { message: string } }>(tb, adminOnly, 'POST', '/apikeys', { capabilities: ['admin', 'send'] })).body.error.message).toMatch(/only capabilities it has \(admin\); send is beyond it/);
    expect(cell(await api(tb, adminOnly, 'POST', '/apikeys', { capabilities: ['admin'] }))).toBe('201');
    const readAdmin = (await issueKey(tb, mesh, mesh.owner, { label: 'read+admin', capabilities: ['read', 'admin'] })).secret;
    expect(cell(await api(tb, readAdmin, 'POST', '/apikeys', { capabilities: ['read', 'send'] }))).toBe(FORBIDDEN);
    expect(cell(await api(tb, readAdmin, 'POST', '/apikeys', { capabilities: ['read'] }))).toBe('201');
    expect(cell(await api(tb, readAdmin, 'POST', '/apikeys', { capabilities: ['read', 'admin'] }))).toBe('201');
  });

  it('lets a key that expires issue only keys that expire no later; a key without expiry issues either', async () => {
    const expiring = await issueKey(tb, mesh, mesh.owner, { label: 'expiring admin', capabilities: ['read', 'admin'], expires_in_s: 3_600 });
    const never = await api<{ error: { message: string } }>(tb, expiring.secret, 'POST', '/apikeys', { capabilities: ['read'] });
    expect(cell(never)).toBe(FORBIDDEN);
    expect(never.body.error.message).toMatch(/expires at .*; a key it issues must expire no later \(expires_in_s ≤ 3\d{3}\)/);
    expect(cell(await api(tb, expiring.secret, 'POST', '/apikeys', { capabilities: ['read'], expires_in_s: 7_200 }))).toBe(FORBIDDEN);
    const child = await api<CreatedApiKey>(tb, expiring.secret, 'POST', '/apikeys', { capabilities: ['read'], expires_in_s: 3_000 });
    expect(cell(child)).toBe('201');
    expect(child.body.expires_at!).toBeLessThanOrEqual(expiring.expires_at!);
    expect(cell(await api(tb, full, 'POST', '/apikeys', { capabilities: ['read'] }))).toBe('201');
    expect(cell(await api(tb, full, 'POST', '/apikeys', { capabilities: ['read'], expires_in_s: 60 }))).toBe('201');
  });

  it('keeps a topic-scoped admin key to keys within its topics: it lists and revokes no other and enrols no one', async () => {
    const scopedAdmin = (await issueKey(tb, mesh, mesh.owner, { label: 'general admin', capabilities: ['read', 'admin'], topics: ['general'] })).secret;
    const issue = (label: string, topics?: string[]) => issueKey(tb, mesh, mesh.owner, { label, capabilities: ['read'], ...(topics ? { topics } : {}) });
    const inside = await issue('general only', ['general']);
    const ops = await issue('ops only', ['ops']);
    const wider = await issue('general and ops', ['general', 'ops']);
    const unscoped = await issue('every topic');

    const listed = (await api<ApiKeyInfo[]>(tb, scopedAdmin, 'GET', '/apikeys')).body;
    expect(listed.every((k) => k.topics !== null && k.topics.every((t) => t === 'general'))).toBe(true);
    expect(listed.map((k) => k.id)).toContain(inside.id);
    for (const outside of [ops, wider, unscoped]) {
      expect(listed.map((k) => k.id)).not.toContain(outside.id);
      expect(cell(await api(tb, scopedAdmin, 'DELETE', `/apikeys/${outside.id}`)), outside.label).toBe(FORBIDDEN);
      expect(cell(await api(tb, outside.secret, 'GET', '/me')), `${outside.label} still works`).toBe('200');
    }
    expect(cell(await api(tb, scopedAdmin, 'DELETE', `/apikeys/${inside.id}`))).toBe('200');
    expect(cell(await api(tb, inside.secret, 'GET', '/me'))).toBe(UNAUTHORIZED);

    const enrol = await api<{ error: { message: string } }>(tb, scopedAdmin, 'POST', '/apikeys', { capabilities: ['read'], topics: ['general'], human: 'mallory' });
    expect([cell(enrol), enrol.body.error.message]).toEqual([FORBIDDEN, 'a topic-scoped key cannot enrol members']);
    expect((await api<MemberPresence[]>(tb, full, 'GET', '/members')).body.map((m) => m.display_name)).not.toContain('mallory');
    // An unscoped admin key of an owner does enrol.
    expect(cell(await api(tb, full, 'POST', '/apikeys', { capabilities: ['read'], human: 'grace' }))).toBe('201');
  });

  it('ends every key minted from a key when that key is revoked, transitively, from the next request', async () => {
    for (const revoke of ['rest', 'signed'] as const) {
      const root = await issueKey(tb, mesh, mesh.owner, { label: `root-${revoke}`, capabilities: ['read', 'admin'] });
      const child = (await api<CreatedApiKey>(tb, root.secret, 'POST', '/apikeys', { label: 'child', capabilities: ['read', 'admin'] })).body;
      const grandchild = (await api<CreatedApiKey>(tb, child.secret, 'POST', '/apikeys', { label: 'grandchild', capabilities: ['read'] })).body;
      for (const k of [root, child, grandchild]) expect(cell(await api(tb, k.secret, 'GET', '/topics')), k.label).toBe('200');

      if (revoke === 'rest') expect(cell(await api(tb, full, 'DELETE', `/apikeys/${root.id}`))).toBe('200');
      else await signedRequest(tb.url, mesh.owner, mesh.meshId, 'DELETE', `/api/v1/meshes/${mesh.meshId}/apikeys/${root.id}`);
      for (const k of [child, grandchild]) {
        const after = await api<{ error: { message: string } }>(tb, k.secret, 'GET', '/topics');
        expect([after.status, after.body.error.message], k.label).toEqual([401, 'this API key has been revoked']);
      }
      const listed = (await api<ApiKeyInfo[]>(tb, full, 'GET', '/apikeys')).body.filter((k) => [root.id, child.id, grandchild.id].includes(k.id));
      expect(listed.map((k) => k.revoked_at !== null)).toEqual([true, true, true]);
    }
  });

  it('ends a key minted while the key that mints it is being revoked', async () => {
    const root = await issueKey(tb, mesh, mesh.owner, { label: 'racing root', capabilities: ['read', 'admin'] });
    const [minted] = await Promise.all([
      Promise.all(Array.from({ length: 5 }, () => api<CreatedApiKey>(tb, root.secret, 'POST', '/apikeys', { capabilities: ['read'] }))),
      api(tb, full, 'DELETE', `/apikeys/${root.id}`),
    ]);
    const children = minted.filter((m) => m.status === 201).map((m) => m.body);
    for (const k of children) expect(cell(await api(tb, k.secret, 'GET', '/me')), k.id).toBe(UNAUTHORIZED);
  });

  it('ends a key when the key that minted it expires', async () => {
    const parent = await issueKey(tb, mesh, mesh.owner, { label: 'parent', capabilities: ['read', 'admin'], expires_in_s: 3_600 });
    const child = (await api<CreatedApiKey>(tb, parent.secret, 'POST', '/apikeys', { capabilities: ['read'], expires_in_s: 3_000 })).body;
    expect(cell(await api(tb, child.secret, 'GET', '/me'))).toBe('200');
    // The child cannot outlive its parent by construction; the parent's end is also checked on its own.
    await tb.broker.app.get(DataSource).query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [parent.id]);
    const after = await api<{ error: { message: string } }>(tb, child.secret, 'GET', '/me');
    expect([after.status, after.body.error.message]).toEqual([401, 'this API key has expired with the key that issued it']);
  });

  it(`nests keys minted with keys at most ${TOPIC_LIMITS.maxKeyDepth} deep`, async () => {
    let key = (await issueKey(tb, mesh, mesh.owner, { label: 'depth 0', capabilities: ['read', 'admin'] })).secret;
    for (let depth = 1; depth <= TOPIC_LIMITS.maxKeyDepth; depth++) {
      const next = await api<CreatedApiKey>(tb, key, 'POST', '/apikeys', { label: `depth ${depth}`, capabilities: ['read', 'admin'] });
      expect(cell(next), `depth ${depth}`).toBe('201');
      key = next.body.secret;
    }
    expect(cell(await api(tb, key, 'GET', '/me'))).toBe('200');
    const deeper = await api<{ error: { message: string } }>(tb, key, 'POST', '/apikeys', { capabilities: ['read'] });
    expect([cell(deeper), deeper.body.error.message]).toEqual([FORBIDDEN, expect.stringMatching(/nest at most 8 deep/)]);
  });

  it('gives a key of one mesh nothing of another', async () => {
    const b = keys['other-mesh']!;
    await api(tb, b, 'POST', '/topics', { name: 'bonly', encryption: 'plaintext' });
    await api(tb, b, 'POST', '/topics/bonly/messages', { text: 'mesh b secret plans' });
    const bKeys = (await api<ApiKeyInfo[]>(tb, b, 'GET', '/apikeys')).body;

    expect((await api<TopicInfo[]>(tb, full, 'GET', '/topics')).body.map((t) => t.name)).not.toContain('bonly');
    for (const path of ['/topics/bonly', '/topics/bonly/messages', '/topics/bonly/members', '/messages?topic=bonly', '/search?q=secret&topic=bonly']) {
      expect(cell(await api(tb, full, 'GET', path)), path).toBe(NOT_FOUND);
    }
    expect(cell(await api(tb, full, 'POST', '/topics/bonly/messages', { text: 'hello?' }))).toBe(NOT_FOUND);
    expect((await api<TopicMessage[]>(tb, full, 'GET', '/search?q=secret')).body).toEqual([]);
    expect((await api<TopicMessage[]>(tb, full, 'GET', '/me/activity')).body.map((m) => m.text)).not.toContain('mesh b secret plans');
    expect((await api<MemberPresence[]>(tb, full, 'GET', '/members')).body.map((m) => m.member_pubkey)).not.toContain(other.owner.publicKey);
    expect((await api<ApiKeyInfo[]>(tb, full, 'GET', '/apikeys')).body.map((k) => k.id)).not.toContain(bKeys[0]!.id);
    expect(cell(await api(tb, full, 'DELETE', `/apikeys/${bKeys[0]!.id}`))).toBe(NOT_FOUND);
    expect(cell(await api(tb, b, 'GET', '/topics/bonly'))).toBe('200');
  });

  it('keeps a private topic from a non-member: no join, no read, no post, not listed', async () => {
    const aliceKey = (await issueKey(tb, mesh, alice, { label: 'alice', capabilities: ['read', 'send'] })).secret;
    expect(cell(await api(tb, aliceKey, 'POST', '/topics', { name: 'vault', visibility: 'private', encryption: 'plaintext' }))).toBe('201');
    await api(tb, aliceKey, 'POST', '/topics/vault/messages', { text: 'the vault combination' });
    // The mesh owner is not a member of the topic.
    expect((await api<TopicInfo[]>(tb, full, 'GET', '/topics')).body.map((t) => t.name)).not.toContain('vault');
    for (const [method, path, body] of [
      ['GET', '/topics/vault'],
      ['POST', '/topics/vault/join'],
      ['GET', '/topics/vault/messages'],
      ['GET', '/messages?topic=vault'],
      ['GET', '/topics/vault/members'],
      ['POST', '/topics/vault/messages', { text: 'let me in' }],
      ['POST', '/topics/vault/members', { member: 'owner' }],
      ['GET', '/search?q=combination&topic=vault'],
    ] as Array<[string, string, unknown?]>) {
      expect(cell(await api(tb, full, method, path, body)), `${method} ${path}`).toBe(FORBIDDEN);
    }
    expect((await api<TopicMessage[]>(tb, full, 'GET', '/search?q=combination')).body).toEqual([]);
  });

  it('answers bad bodies, queries and path parameters with 400 E_SCHEMA naming the field', async () => {
    const bad: Array<[string, string, unknown, RegExp]> = [
      ['POST', '/topics', { name: 'Not A Name' }, /^name:/],
      ['POST', '/topics', { name: 'fine', colour: 'red' }, /colour/],
      ['POST', '/topics', '{"name": ', /not valid JSON/],
      ['POST', '/topics', [1, 2], /\(body\)/],
      ['POST', '/topics/general/messages', { text: '' }, /^text:/],
      ['POST', '/topics/general/messages', { text: 'x'.repeat(16_001) }, /^text:/],
      ['POST', '/topics/general/messages', { text: 'hi', client_id: 'short' }, /^client_id:/],
      ['POST', '/messages', { text: 'no topic' }, /^topic:/],
      ['PATCH', '/topics/general/read', { message_id: 'latest' }, /^message_id:/],
      ['POST', '/topics/general/members', { member: '!!' }, /^member:/],
      ['POST', '/notifications/read', { ids: [] }, /^ids:/],
      ['POST', '/apikeys', { capabilities: [] }, /^capabilities:/],
      ['POST', '/apikeys', { capabilities: ['read', 'read'] }, /repeat/],
      ['POST', '/apikeys', { capabilities: ['read'], expires_in_s: 1 }, /^expires_in_s:/],
      ['GET', '/topics/general/messages?limit=0', undefined, /^limit:/],
      ['GET', '/topics/general/messages?limit=ten', undefined, /^limit:/],
      ['GET', '/topics/general/messages?before=-1', undefined, /^before:/],
      ['GET', '/topics/general/messages?colour=red', undefined, /colour/],
      ['GET', '/messages', undefined, /^topic:/],
      ['GET', '/search?q=', undefined, /^q:/],
      ['GET', '/notifications?unread=maybe', undefined, /^unread:/],
      ['GET', '/topics/General', undefined, /^name:/],
      ['DELETE', '/apikeys/not-a-key-id', undefined, /^id:/],
    ];
    for (const [method, path, body, message] of bad) {
      const a = await api<{ error: { code: string; message: string } }>(tb, full, method, path, body);
      expect([a.status, a.body.error.code], `${method} ${path} ${JSON.stringify(body)}`).toEqual([400, 'E_SCHEMA']);
      expect(a.body.error.message, `${method} ${path}`).toMatch(message);
    }
    const ops = (await api<{ messages: TopicMessage[] }>(tb, full, 'GET', '/topics/ops/messages')).body.messages[0]!;
    expect(cell(await api(tb, full, 'POST', '/topics/general/messages', { text: 'cross-topic reply', reply_to: ops.id }))).toBe('400 E_SCHEMA');
  });

  it('answers an unknown topic with 404 E_NOT_FOUND on every topic route', async () => {
    for (const [method, path, body] of [
      ['GET', '/topics/nope'],
      ['POST', '/topics/nope/join'],
      ['POST', '/topics/nope/leave'],
      ['GET', '/topics/nope/members'],
      ['POST', '/topics/nope/members', { member: 'alice' }],
      ['GET', '/topics/nope/messages'],
      ['POST', '/topics/nope/messages', { text: 'anyone?' }],
      ['PATCH', '/topics/nope/read', {}],
      ['POST', '/messages', { topic: 'nope', text: 'anyone?' }],
      ['GET', '/messages?topic=nope'],
      ['GET', '/search?q=x&topic=nope'],
    ] as Array<[string, string, unknown?]>) {
      expect(cell(await api(tb, full, method, path, body)), `${method} ${path}`).toBe(NOT_FOUND);
    }
    expect(await stream('/topics/nope/stream')(full)).toBe(NOT_FOUND);
  });

  it('refuses a bearer key on the signed API-key routes', async () => {
    for (const [method, path] of [
      ['GET', `/meshes/${mesh.meshId}/apikeys`],
      ['POST', `/meshes/${mesh.meshId}/apikeys`],
      ['DELETE', `/meshes/${mesh.meshId}/apikeys/${'0'.repeat(16)}`],
    ] as const) {
      expect(cell(await api(tb, full, method, path, method === 'POST' ? { capabilities: ['read'] } : undefined)), `${method} ${path}`).toBe(UNAUTHORIZED);
    }
  });
});
