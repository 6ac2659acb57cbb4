import { DEFAULT_CAPABILITIES, EpochKeyring, MeshApi, meshMembersWithKeys, topicSendEncrypted, type TopicMessage } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify, type ECDH } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { PushQueue } from '../src/push/push-queue.js';
import { PUSH_TTL_S, PushService } from '../src/push/push.service.js';
import { ensureVapidKeys, generateVapidKeys } from '../src/push/vapid.js';
import { TopicsService } from '../src/topics/topics.service.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { api, cell, issueKey } from './bearer-api.js';

/** What the fake push service received. */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A push service on 127.0.0.1: records every request; answers 201, or what `answer` says for a path. */
async function fakePushService(): Promise<{ origin: string; got: Received[]; answer: Map<string, number>; close: () => Promise<void> }> {
  const got: Received[] = [];
  const answer = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(answer.get(req.url ?? '') ?? 201).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, got, answer, close: () => new Promise((r) => server.close(() => r())) };
}

/** A browser's side of a subscription: its P-256 keypair and auth secret (as PushManager makes them). */
interface Device {
  ecdh: ECDH;
  auth: Buffer;
  endpoint: string;
  json: { endpoint: string; keys: { p256dh: string; auth: string } };
}
function device(endpoint: string): Device {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return { ecdh, auth, endpoint, json: { endpoint, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } } };
}

const hkdf = (salt: Buffer, ikm: Buffer, info: Buffer, length: number): Buffer => Buffer.from(hkdfSync('sha256', ikm, salt, info, length));

/** RFC 8291 §3.4 / RFC 8188: the user agent's decryption of an aes128gcm push message. */
function decryptPush(d: Device, body: Buffer): string {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  expect(idlen).toBe(65);
  expect(record.length).toBeLessThanOrEqual(rs);
  const ecdhSecret = d.ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), d.ecdh.getPublicKey(), asPublic]);
  const ikm = hkdf(d.auth, ecdhSecret, keyInfo, 32);
  const cek = hkdf(salt, ikm, Buffer.from('Content-Encoding: aes128gcm\0'), 16);
  const nonce = hkdf(salt, ikm, Buffer.from('Content-Encoding: nonce\0'), 12);
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  // The last record: data, then the delimiter 0x02, then zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  expect(padded[end]).toBe(2);
  return padded.subarray(0, end).toString('utf8');
}

/** RFC 8292: `vapid t=<JWT>, k=<key>`; checks the ES256 signature with the broker's published key and returns the claims. */
function vapidClaims(authorization: string | undefined, publicKey: string): { aud: string; exp: number; sub: string } {
  const m = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
  expect(m, `Authorization: ${authorization}`).not.toBeNull();
  const [, jwt, k] = m!;
  expect(k).toBe(publicKey);
  const [header, claims, sig] = jwt!.split('.') as [string, string, string];
  expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toMatchObject({ alg: 'ES256', typ: 'JWT' });
  const point = Buffer.from(publicKey, 'base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }, format: 'jwk' });
  expect(verify('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'))).toBe(true);
  return JSON.parse(Buffer.from(claims, 'base64url').toString()) as { aud: string; exp: number; sub: string };
}

type Posted = { message: TopicMessage };

/**
 * Web Push of mentions and replies (docs/web.md "Web Push", docs/protocol.md §8.6), against a real
 * broker and a push service of our own on 127.0.0.1: what arrives is decrypted as a browser would
 * (RFC 8291) and its VAPID JWT checked (RFC 8292). Waits are for the broker's push queue to be idle
 * (after the post has answered), never for time.
 */
describe.each(dbKinds())('web push on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let push: Awaited<ReturnType<typeof fakePushService>>;
  const ids = {} as Record<'alice' | 'bob' | 'dana', Identity>;
  const keys = {} as Record<'alice' | 'bob' | 'dana', string>;
  let vapidKey: string;
  let n = 0;

  beforeAll(async () => {
    push = await fakePushService();
    tb = await startTestBroker(kind, { CLAUDEMESH_PUSH_HTTP_LOOPBACK: 'on' });
    mesh = await createTestMesh(tb, 'push-mesh');
    for (const who of ['alice', 'bob', 'dana'] as const) {
      ids[who] = await addMember(tb, mesh, who);
      keys[who] = (await issueKey(tb, mesh, ids[who], { label: who, capabilities: ['read', 'send'] })).secret;
    }
    await api(tb, keys.alice, 'POST', '/topics', { name: 'ops', encryption: 'plaintext' });
    await api(tb, keys.dana, 'POST', '/topics/ops/join');
    vapidKey = (await api<{ vapid_public_key: string }>(tb, keys.dana, 'GET', '/web/push')).body.vapid_public_key;
  });
  afterAll(async () => {
    await tb?.close();
    await push?.close();
  });

  const pushes = () => tb.broker.app.get(PushService);
  /** Waits until the post's pushes have been looked up and sent (or failed). */
  const settled = () => waitFor(() => pushes().idle, 'the push queue to drain', 20_000);
  const newDevice = () => device(`${push.origin}/push/${kind}-${++n}`);
  const subscribe = async (key: string, d: Device, extra: object = {}) => {
    const res = await api<{ id: string; created_at: number }>(tb, key, 'POST', '/me/push', { ...d.json, ...extra });
    expect(cell(res)).toBe('201');
    return res.body;
  };
  const post = async (who: keyof typeof keys, topic: string, text: string, replyTo?: string) => {
    const res = await api<Posted>(tb, keys[who], 'POST', `/topics/${topic}/messages`, { text, ...(replyTo ? { reply_to: replyTo } : {}) });
    expect(res.status).toBe(201);
    await settled();
    return res.body.message;
  };
  const to = (d: Device) => push.got.filter((r) => `${push.origin}${r.path}` === d.endpoint);
  const subscriptionRows = async (d: Device) =>
    Number((await tb.broker.app.get(DataSource).query('SELECT count(*) AS n FROM push_subscriptions WHERE endpoint = $1', [d.endpoint]))[0].n);

  it('publishes its VAPID key, generated once and kept in DATA_DIR/vapid.json (0600)', async () => {
    const res = await api<{ vapid_public_key: string; enabled: boolean }>(tb, keys.dana, 'GET', '/web/push');
    expect(res.body.enabled).toBe(true);
    const point = Buffer.from(res.body.vapid_public_key, 'base64url');
    expect(point.length).toBe(65);
    expect(point[0]).toBe(4);
    const file = join(tb.dataDir, 'vapid.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // Read back as the next start would: the same pair.
    expect(ensureVapidKeys(tb.dataDir, { publicKey: undefined, privateKey: undefined }).publicKey).toBe(res.body.vapid_public_key);
  });

  it('pushes a mention and a reply once each, encrypted to the device, with a valid VAPID JWT and no message text', async () => {
    const d = newDevice();
    await subscribe(keys.dana, d);
    const own = await post('dana', 'ops', 'when is the deploy?');
    expect(to(d)).toHaveLength(0);
    const m = await post('alice', 'ops', '@dana the deploy code is 4711', own.id);
    const got = to(d);
    expect(got).toHaveLength(2);
    const payloads = got.map((r) => decryptPush(d, r.body));
    for (const p of payloads) {
      expect(p).not.toContain('4711');
      expect(p).not.toContain('deploy');
    }
    const parsed = payloads.map((p) => JSON.parse(p) as Record<string, unknown>).sort((a, b) => String(a['kind']).localeCompare(String(b['kind'])));
    const base = { v: 1, mesh_id: mesh.meshId, mesh_name: 'push-mesh', topic: 'ops', actor: 'alice', message_id: m.id, url: `#/m/${mesh.meshId}/t/ops` };
    expect(parsed).toEqual([
      { ...base, kind: 'mention' },
      { ...base, kind: 'reply' },
    ]);
    const byKind = new Map(got.map((r, i) => [(JSON.parse(payloads[i]!) as { kind: string }).kind, r]));
    expect(byKind.get('mention')!.headers['urgency']).toBe('high');
    expect(byKind.get('reply')!.headers['urgency']).toBe('normal');
    const now = Math.floor(Date.now() / 1000);
    for (const r of got) {
      expect(r.headers['content-encoding']).toBe('aes128gcm');
      expect(r.headers['ttl']).toBe(String(PUSH_TTL_S));
      const claims = vapidClaims(r.headers['authorization'], vapidKey);
      expect(claims.aud).toBe(push.origin);
      expect(claims.exp).toBeGreaterThan(now);
      expect(claims.exp).toBeLessThanOrEqual(now + 24 * 3600 + 60);
      expect(claims.sub).toMatch(/^(mailto:|https:)/);
    }
    // A message that notifies nobody pushes nothing; nor does the author's own mention of itself.
    await post('alice', 'ops', 'no mention here');
    await post('dana', 'ops', '@dana note to self');
    expect(to(d)).toHaveLength(2);
    await api(tb, keys.dana, 'DELETE', '/me/push', { endpoint: d.endpoint });
  });

  it('pushes a declared mention in an e2e topic: who and where, nothing of the sealed text', async () => {
    const d = newDevice();
    await subscribe(keys.dana, d, { kinds: ['mention'] });
    const name = 'sealed';
    const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
    const topics = tb.broker.app.get(TopicsService);
    await topics.create({ state, member: state.byPubkey.get(ids.bob.publicKey)!, topics: null }, { name, visibility: 'public', description: '', encryption: 'e2e' });
    for (const who of [mesh.owner, ids.alice, ids.dana]) await topics.join({ state, member: state.byPubkey.get(who.publicKey)!, topics: null }, name);
    const bobApi = new MeshApi(tb.url, keys.bob);
    const ring = new EpochKeyring({ me: ids.bob, meshId: mesh.meshId, authorities: (_s, epoch) => (epoch === 1 ? [ids.bob.publicKey] : []) });
    const sent = await topicSendEncrypted(bobApi, ring, name, 'the launch code is 0000', { members: () => meshMembersWithKeys(bobApi), mentions: [ids.dana.publicKey] });
    await settled();
    const got = to(d);
    expect(got).toHaveLength(1);
    const text = decryptPush(d, got[0]!.body);
    expect(text).not.toContain('launch');
    expect(JSON.parse(text)).toEqual({ v: 1, kind: 'mention', mesh_id: mesh.meshId, mesh_name: 'push-mesh', topic: name, actor: 'bob', message_id: sent.id, url: `#/m/${mesh.meshId}/t/${name}` });
    await api(tb, keys.dana, 'DELETE', '/me/push', { endpoint: d.endpoint });
  });

  it('deletes a subscription the push service answers 410 for: the next mention sends nothing', async () => {
    const d = newDevice();
    await subscribe(keys.dana, d);
    push.answer.set(new URL(d.endpoint).pathname, 410);
    await post('alice', 'ops', '@dana first');
    expect(to(d)).toHaveLength(1);
    expect(await subscriptionRows(d)).toBe(0);
    await post('alice', 'ops', '@dana second');
    expect(to(d)).toHaveLength(1);
  });

  it('deletes a subscription after 5 failed pushes in a row', async () => {
    const d = newDevice();
    await subscribe(keys.dana, d);
    push.answer.set(new URL(d.endpoint).pathname, 500);
    for (let i = 0; i < 5; i++) await post('alice', 'ops', `@dana failing ${i}`);
    expect(to(d)).toHaveLength(5);
    expect(await subscriptionRows(d)).toBe(0);
    await post('alice', 'ops', '@dana after');
    expect(to(d)).toHaveLength(5);
  });

  it('never uses the subscription of a revoked key', async () => {
    const key = (await issueKey(tb, mesh, ids.dana, { label: 'dana-phone', capabilities: ['read'] })).secret;
    const d = newDevice();
    await subscribe(key, d);
    expect(cell(await api(tb, key, 'DELETE', '/me/apikey'))).toBe('200');
    await post('alice', 'ops', '@dana after sign-out');
    expect(to(d)).toHaveLength(0);
    // Deleted lazily, when it would have been used.
    expect(await subscriptionRows(d)).toBe(0);
  });

  it('sends nothing for a private topic the member has left', async () => {
    const d = newDevice();
    await subscribe(keys.dana, d);
    await api(tb, keys.alice, 'POST', '/topics', { name: 'vault', visibility: 'private', encryption: 'plaintext' });
    await api(tb, keys.alice, 'POST', '/topics/vault/members', { member: 'dana' });
    await post('alice', 'vault', '@dana welcome');
    expect(to(d)).toHaveLength(1);
    expect(cell(await api(tb, keys.dana, 'POST', '/topics/vault/leave'))).toBe('200');
    await post('alice', 'vault', '@dana are you still here?');
    expect(to(d)).toHaveLength(1);
    // Only the kinds asked for: a replies-only device gets no mention.
    const replies = newDevice();
    await subscribe(keys.dana, replies, { kinds: ['reply'] });
    await post('alice', 'ops', '@dana mention only');
    expect(to(replies)).toHaveLength(0);
    expect(to(d)).toHaveLength(2);
    await api(tb, keys.dana, 'DELETE', '/me/push');
  });

  it('sends nothing for an author the member blocked, nor through a key scoped to other topics', async () => {
    const d = newDevice();
    await subscribe(keys.dana, d);
    const scopedKey = (await issueKey(tb, mesh, ids.dana, { label: 'dana-general', capabilities: ['read'], topics: ['general'] })).secret;
    const scoped = newDevice();
    await subscribe(scopedKey, scoped);
    const dana = await connectClient(tb, mesh, ids.dana);
    try {
      await dana.setGrants(ids.alice.publicKey, [], true);
      await post('alice', 'ops', '@dana while blocked');
      expect(to(d)).toHaveLength(0);
      await dana.setGrants(ids.alice.publicKey, [...DEFAULT_CAPABILITIES], false);
      await post('alice', 'ops', '@dana unblocked');
      expect(to(d)).toHaveLength(1);
      // The #general-only key's device hears of #general, not #ops.
      expect(to(scoped)).toHaveLength(0);
      await post('alice', 'general', '@dana in general');
      expect(to(scoped)).toHaveLength(1);
      expect(to(d)).toHaveLength(2);
    } finally {
      await dana.close();
      await api(tb, keys.dana, 'DELETE', '/me/push');
      await api(tb, scopedKey, 'DELETE', '/me/push');
    }
  });

  it('holds at most 5 subscriptions per key (429 beyond), updates the same endpoint in place, deletes one or all', async () => {
    const key = (await issueKey(tb, mesh, ids.dana, { label: 'dana-limits', capabilities: ['read'] })).secret;
    const devices = Array.from({ length: 5 }, newDevice);
    const first = await subscribe(key, devices[0]!);
    for (const d of devices.slice(1)) await subscribe(key, d);
    const sixth = await api<{ error: { code: string } }>(tb, key, 'POST', '/me/push', newDevice().json);
    expect(cell(sixth)).toBe('429 E_RATE_LIMITED');
    // The same endpoint again (new keys from the browser) is an update, not a sixth.
    const again = await subscribe(key, { ...devices[0]!, json: device(devices[0]!.endpoint).json });
    expect(again.id).toBe(first.id);
    expect(cell(await api(tb, key, 'POST', '/me/push', { ...newDevice().json, endpoint: 'http://push.example.com/x' }))).toBe('400 E_SCHEMA');
    expect(cell(await api(tb, key, 'POST', '/me/push', { ...newDevice().json, keys: { p256dh: randomBytes(33).toString('base64url'), auth: randomBytes(16).toString('base64url') } }))).toBe('400 E_SCHEMA');
    expect((await api(tb, key, 'DELETE', '/me/push', { endpoint: devices[0]!.endpoint })).body).toEqual({ removed: 1 });
    expect((await api(tb, key, 'DELETE', '/me/push')).body).toEqual({ removed: 4 });
    expect((await api(tb, key, 'DELETE', '/me/push')).body).toEqual({ removed: 0 });
  });
});

describe('web push, broker parts', () => {
  it('refuses plain http to a non-loopback host, and to loopback unless the broker allows it', async () => {
    const tb = await startTestBroker('embedded');
    try {
      const mesh = await createTestMesh(tb, 'push-http');
      const key = (await issueKey(tb, mesh, mesh.owner, { label: 'o', capabilities: ['read'] })).secret;
      expect(cell(await api(tb, key, 'POST', '/me/push', device('http://127.0.0.1:9/push').json))).toBe('400 E_SCHEMA');
      expect(cell(await api(tb, key, 'POST', '/me/push', device('https://push.invalid/abc').json))).toBe('201');
    } finally {
      await tb.close();
    }
  });

  it('bounds its queue: the oldest waiting push is dropped and counted', async () => {
    const release: Array<() => void> = [];
    const done: number[] = [];
    const q = new PushQueue<number>(3, 1, (job) => new Promise<void>((r) => release.push(() => (done.push(job), r()))));
    for (let i = 1; i <= 6; i++) q.push(i);
    // 1 runs; 2, 3, 4 waited; 5 and 6 pushed out 2 and 3.
    expect(q.active).toBe(1);
    expect(q.pending).toBe(3);
    expect(q.dropped).toBe(2);
    while (done.length < 4) {
      await waitFor(() => release.length > 0, 'a running push');
      release.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    expect(done).toEqual([1, 4, 5, 6]);
  });

  it('keeps VAPID keys from the environment, and refuses a pair that does not match', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cmh-vapid-'));
    try {
      const a = generateVapidKeys();
      const b = generateVapidKeys();
      expect(ensureVapidKeys(dir, a)).toEqual(a);
      expect(() => ensureVapidKeys(dir, { publicKey: a.publicKey, privateKey: b.privateKey })).toThrow(/not the private key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
