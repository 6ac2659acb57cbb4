/**
 * What an independent client found the broker accepting against docs/protocol.md, over real
 * sockets: non-canonical base64url (§1.1), invalid UTF-8 in binary frames (§3.3), duplicate JSON
 * keys (§3.3, §8), lone surrogates and NUL in free text (§1.1), a GET with a body (§8), and the
 * Authorization scheme's case (§8.1).
 */
import { type MeshClient } from '@claudemesh/core';
import { boxEncrypt, randomBytes, requestString, sha256Hex, sign, toB64u, type Identity } from '@claudemesh/crypto';
import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { api, issueKey } from './bearer-api.js';
import { buildHello, helloPeer } from './hello-frames.js';

/** A raw HTTP request, for what fetch refuses to send (a GET with a body, bytes that are not UTF-8). */
function rawHttp(url: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers: { ...headers, ...(body ? { 'content-length': String(body.byteLength) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as { error?: { code: string; message: string } }) : {} });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A signed-request header (§8.1) written with the given scheme spelling. */
function signedHeader(scheme: string, identity: Identity, meshId: string, method: string, path: string, body = ''): string {
  const ts = Date.now();
  const sig = sign(requestString({ method, path, meshId, ts, bodySha256Hex: sha256Hex(body) }), identity.secretKey);
  return `${scheme} pubkey=${identity.publicKey},ts=${ts},sig=${sig}`;
}

describe.each(dbKinds())('wire conformance on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  let b: MeshClient;
  let key: string;
  const peers: RawPeer[] = [];

  async function authenticated(identity: Identity): Promise<RawPeer> {
    const p = await helloPeer(tb.wsUrl, mesh.meshId, identity);
    peers.push(p);
    return p;
  }

  async function expectError(p: RawPeer, code: string): Promise<Record<string, unknown>> {
    const frame = await p.next('error');
    expect([frame['code'], frame['message']]).toEqual([code, expect.any(String)]);
    return frame;
  }

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb);
    alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    b = await connectClient(tb, mesh, bob);
    key = (await issueKey(tb, mesh, alice, { capabilities: ['read', 'send'] })).secret;
  });

  afterEach(() => {
    for (const p of peers.splice(0)) p.close();
  });

  afterAll(async () => {
    await b?.close();
    await tb?.close();
  });

  describe('base64url (§1.1)', () => {
    it('refuses a non-canonical or impossible-length ciphertext with E_SCHEMA naming the field, and stores nothing', async () => {
      const p = await authenticated(alice);
      const nonce = toB64u(randomBytes(24));
      p.send({ type: 'send', id: 'trailing-bits-1', to: 'bob', nonce, ciphertext: `${'A'.repeat(21)}B` });
      const err = await expectError(p, 'E_SCHEMA');
      expect([err['ref'], err['message']]).toEqual(['trailing-bits-1', expect.stringMatching(/^ciphertext: /)]);
      p.send({ type: 'send', id: 'impossible-len-1', to: 'bob', nonce, ciphertext: 'A'.repeat(25) });
      expect((await expectError(p, 'E_SCHEMA'))['message']).toMatch(/^ciphertext: /);
      p.send({ type: 'send', id: 'bad-nonce-bits-1', to: 'bob', nonce: `${'A'.repeat(30)}==`, ciphertext: 'A'.repeat(24) });
      expect((await expectError(p, 'E_SCHEMA'))['message']).toMatch(/^nonce: /);
      const a = await connectClient(tb, mesh, alice);
      try {
        expect(await a.messageStatus({ clientIds: ['trailing-bits-1', 'impossible-len-1', 'bad-nonce-bits-1'] })).toEqual([]);
      } finally {
        await a.close();
      }
    });

    it('refuses a non-canonical shared-state value with E_SCHEMA and writes nothing', async () => {
      const p = await authenticated(alice);
      p.send({ type: 'state_set', req_id: 's-bad', key: 'plan/x', version: 1, nonce: toB64u(randomBytes(24)), ciphertext: `${'A'.repeat(22)}F` });
      const err = await expectError(p, 'E_SCHEMA');
      expect([err['ref'], err['message']]).toEqual(['s-bad', expect.stringMatching(/^ciphertext: /)]);
      p.send({ type: 'state_get', req_id: 's-read', key: 'plan/x' });
      expect((await p.next('state'))['entries']).toEqual([]);
    });

    it('refuses a hello whose signature is spelled non-canonically without spending the challenge', async () => {
      const p = await RawPeer.connect(tb.wsUrl);
      peers.push(p);
      const hello = buildHello(mesh.meshId, alice, p.challenge);
      const sig = hello['sig'] as string;
      const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      p.send({ ...hello, sig: sig.slice(0, -1) + digits[digits.indexOf(sig.slice(-1)) + 1]! });
      expect((await expectError(p, 'E_SCHEMA'))['message']).toMatch(/^sig: /);
      p.send(hello);
      await p.next('hello_ack');
    });

    it('delivers a valid send byte for byte: the push carries exactly the nonce and ciphertext sent', async () => {
      const sender = await authenticated(alice);
      const receiver = await authenticated(bob);
      const sealed = boxEncrypt('exactly these bytes', bob.publicKey, alice);
      sender.send({ type: 'send', id: 'byte-identical-1', to: 'bob', nonce: sealed.nonce, ciphertext: sealed.ciphertext });
      await sender.next('ack');
      const push = await receiver.next('push');
      expect([push['client_id'], push['nonce'], push['ciphertext']]).toEqual(['byte-identical-1', sealed.nonce, sealed.ciphertext]);
    });
  });

  describe('frame bytes (§3.3)', () => {
    it('refuses a binary frame of invalid UTF-8 with E_BAD_FRAME, keeps the connection, and never answers with replacement characters', async () => {
      const p = await authenticated(alice);
      p.send(Buffer.concat([Buffer.from('{"type":"list_peers","req_id":"r'), Buffer.from([0xff]), Buffer.from('"}')]));
      expect((await expectError(p, 'E_BAD_FRAME'))['message']).toMatch(/UTF-8/);
      p.send(Buffer.concat([Buffer.from('{"type":"list_peers","req_id":"s'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]));
      await expectError(p, 'E_BAD_FRAME');
      p.send(Buffer.from('\ufeff{"type":"list_peers","req_id":"bom"}', 'utf8'));
      await expectError(p, 'E_BAD_FRAME');
      p.send(Buffer.from('{"type":"list_peers","req_id":"binary-ok"}', 'utf8'));
      expect((await p.next('peers'))['req_id']).toBe('binary-ok');
      expect(p.frames.filter((f) => f['type'] === 'peers').map((f) => f['req_id'])).toEqual(['binary-ok']);
    });

    it('closes a text frame of invalid UTF-8 with 1007: the WebSocket layer validates text frames', async () => {
      const p = await authenticated(alice);
      p.ws.send(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false });
      expect((await p.waitClosed()).code).toBe(1007);
    });

    it('refuses a frame that repeats a key with E_BAD_FRAME and stores nothing', async () => {
      const p = await authenticated(alice);
      const nonce = toB64u(randomBytes(24));
      p.send(`{"type":"send","id":"dup-key-0001","to":"bob","nonce":"${nonce}","ciphertext":"${'A'.repeat(24)}","to":"alice"}`);
      const err = await expectError(p, 'E_BAD_FRAME');
      expect(err['message']).toMatch(/duplicate key/);
      p.send('{"type":"list_peers","req_id":"a","req\\u005fid":"b"}');
      await expectError(p, 'E_BAD_FRAME');
      p.send({ type: 'message_status', req_id: 'dup-check', client_ids: ['dup-key-0001'] });
      expect((await p.next('message_status_result'))['messages']).toEqual([]);
    });
  });

  describe('free text (§1.1)', () => {
    it('refuses a lone surrogate or NUL in a summary and in topic text with E_SCHEMA, and posts nothing', async () => {
      const p = await authenticated(alice);
      p.send('{"type":"set_summary","req_id":"sum-1","summary":"half \\ud83d"}');
      expect((await expectError(p, 'E_SCHEMA'))['message']).toMatch(/^summary: /);
      p.send('{"type":"set_summary","req_id":"sum-2","summary":"a\\u0000b"}');
      await expectError(p, 'E_SCHEMA');
      p.send('{"type":"topic_send","id":"surrogate-1","topic":"general","text":"\\udc00 tail"}');
      expect((await expectError(p, 'E_SCHEMA'))['message']).toMatch(/^text: /);
      const page = await api<{ messages: Array<{ client_id: string }> }>(tb, key, 'GET', '/topics/general/messages?limit=200');
      expect(page.body.messages.map((m) => m.client_id)).not.toContain('surrogate-1');
    });

    it('counts a summary in code points: 1 024 emoji are accepted and shown as sent', async () => {
      const p = await authenticated(alice);
      const summary = '😀'.repeat(1024);
      p.send({ type: 'set_summary', req_id: 'sum-astral', summary });
      await p.next('ok');
      const seen = (await b.listPeers()).find((x) => x.display_name === 'alice')!;
      expect(seen.sessions.map((s) => s.summary)).toContain(summary);
    });
  });

  describe('REST requests (§8)', () => {
    it('refuses a non-canonical base64url value in a body with 400 E_SCHEMA naming the field', async () => {
      const post = (path: string, body: unknown) => fetch(`${tb.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const lookup = await post('/api/v1/invites/v2/resolve', { lookup: 'L'.repeat(43) });
      expect([lookup.status, ((await lookup.json()) as { error: { code: string; message: string } }).error]).toEqual([400, { code: 'E_SCHEMA', message: expect.stringMatching(/^lookup: /) }]);
      const canonical = await post('/api/v1/invites/v2/resolve', { lookup: `${'L'.repeat(42)}A` });
      expect([canonical.status, ((await canonical.json()) as { error: { code: string } }).error.code]).toEqual([404, 'E_INVITE_NOT_FOUND']);
    });

    it('refuses a GET that carries a body with 400 E_SCHEMA, before authentication', async () => {
      const members = `/api/v1/meshes/${mesh.meshId}/members`;
      const body = Buffer.from('{}');
      const signed = await rawHttp(tb.url, 'GET', members, { authorization: signedHeader('Claudemesh-Sig', alice, mesh.meshId, 'GET', members, '{}'), 'content-type': 'application/json' }, body);
      expect([signed.status, signed.body.error?.code]).toEqual([400, 'E_SCHEMA']);
      const bearer = await rawHttp(tb.url, 'GET', '/api/v1/me', { authorization: 'Bearer nope' }, Buffer.from('x'));
      expect([bearer.status, bearer.body.error?.code]).toEqual([400, 'E_SCHEMA']);
      const without = await rawHttp(tb.url, 'GET', members, { authorization: signedHeader('Claudemesh-Sig', alice, mesh.meshId, 'GET', members) });
      expect(without.status).toBe(200);
    });

    it('refuses a JSON body that repeats a key or is not UTF-8 with 400 E_SCHEMA, and posts nothing', async () => {
      const dup = await api(tb, key, 'POST', '/topics/general/messages', '{"text":"first","client_id":"rest-dup-key-1","text":"second"}');
      expect([dup.status, (dup.body as { error: { code: string; message: string } }).error]).toEqual([400, { code: 'E_SCHEMA', message: expect.stringMatching(/duplicate key/) }]);
      const bytes = Buffer.concat([Buffer.from('{"text":"caf'), Buffer.from([0xe9]), Buffer.from('","client_id":"rest-latin1-1"}')]);
      const latin1 = await rawHttp(tb.url, 'POST', '/api/v1/topics/general/messages', { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, bytes);
      expect([latin1.status, latin1.body.error?.code]).toEqual([400, 'E_SCHEMA']);
      const page = await api<{ messages: Array<{ client_id: string }> }>(tb, key, 'GET', '/topics/general/messages?limit=200');
      const stored = page.body.messages.map((m) => m.client_id);
      expect([stored.includes('rest-dup-key-1'), stored.includes('rest-latin1-1')]).toEqual([false, false]);
    });

    it('accepts the Authorization scheme in any case: Bearer for keys and the admin token, Claudemesh-Sig for members', async () => {
      for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
        const me = await api<{ member: { display_name: string } }>(tb, `${scheme} ${key}`, 'GET', '/me');
        expect([scheme, me.status, me.body.member.display_name]).toEqual([scheme, 200, 'alice']);
      }
      const members = `/api/v1/meshes/${mesh.meshId}/members`;
      for (const scheme of ['claudemesh-sig', 'CLAUDEMESH-SIG']) {
        const res = await fetch(`${tb.url}${members}`, { headers: { authorization: signedHeader(scheme, alice, mesh.meshId, 'GET', members) } });
        expect([scheme, res.status]).toEqual([scheme, 200]);
      }
      const noAdmin = await fetch(`${tb.url}/api/v1/meshes`, { method: 'POST', headers: { authorization: `BEARER wrong-token`, 'content-type': 'application/json' }, body: '{}' });
      expect(noAdmin.status).toBe(401);
      const admin = await fetch(`${tb.url}/api/v1/meshes`, { method: 'POST', headers: { authorization: `bearer ${tb.adminToken}`, 'content-type': 'application/json' }, body: '{}' });
      expect([admin.status, ((await admin.json()) as { error: { code: string } }).error.code]).toEqual([400, 'E_SCHEMA']);
    });
  });

  it('keeps serving the well-behaved after all of it', async () => {
    const a = await connectClient(tb, mesh, alice);
    const got: string[] = [];
    b.on('message', (m) => got.push(m.text));
    try {
      await a.send('bob', 'still here');
      await waitFor(() => got.includes('still here'), 'the DM after the hostile frames');
    } finally {
      await a.close();
    }
  });
});
