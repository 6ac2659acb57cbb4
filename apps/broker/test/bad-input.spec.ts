import { ERROR_CODES, type InboundMessage, type MeshClient, revokeMember } from '@claudemesh/core';
import { generateIdentity, type Identity } from '@claudemesh/crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { buildHello } from './hello-frames.js';

describe.each(dbKinds())('hostile WebSocket input on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  let bob: Identity;
  let a: MeshClient;
  let b: MeshClient;
  const inboxB: InboundMessage[] = [];
  const peers: RawPeer[] = [];
  let probe = 0;

  async function raw(): Promise<RawPeer> {
    const p = await RawPeer.connect(tb.wsUrl);
    peers.push(p);
    return p;
  }

  async function authenticated(identity: Identity): Promise<RawPeer> {
    const p = await raw();
    p.send(buildHello(mesh.meshId, identity, p.challenge));
    await p.next('hello_ack');
    return p;
  }

  async function expectError(p: RawPeer, code: keyof typeof ERROR_CODES): Promise<Record<string, unknown>> {
    const frame = await p.next('error');
    expect(frame['code']).toBe(code);
    expect(typeof frame['message']).toBe('string');
    return frame;
  }

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb);
    alice = await addMember(tb, mesh, 'alice');
    bob = await addMember(tb, mesh, 'bob');
    a = await connectClient(tb, mesh, alice);
    b = await connectClient(tb, mesh, bob);
    b.on('message', (m) => inboxB.push(m));
  });

  // After every hostile case, the well-behaved peers still exchange messages.
  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    const text = `still serving ${++probe}`;
    await a.send('bob', text);
    await waitFor(() => inboxB.some((m) => m.text === text), 'the well-behaved peers to keep talking');
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await tb?.close();
  });

  it('answers malformed JSON with E_BAD_FRAME and keeps the connection', async () => {
    const p = await raw();
    p.send('{"type": "hello", ');
    await expectError(p, 'E_BAD_FRAME');
    p.send('[1,2,3]');
    await expectError(p, 'E_BAD_FRAME');
    p.send(buildHello(mesh.meshId, alice, p.challenge));
    await p.next('hello_ack');
  });

  it('answers an unknown frame type with E_UNKNOWN_TYPE', async () => {
    const p = await authenticated(alice);
    p.send({ type: 'teleport', req_id: 'x1' });
    const err = await expectError(p, 'E_UNKNOWN_TYPE');
    expect(err['ref']).toBe('x1');
    expect(p.closed).toBeNull();
  });

  it('answers schema violations with E_SCHEMA naming the field, and stores nothing', async () => {
    const p = await authenticated(alice);
    p.send({ type: 'send', id: 'schema-bad-1', to: 'bob', nonce: 'short', ciphertext: 'AAAA' });
    const err = await expectError(p, 'E_SCHEMA');
    expect(err['ref']).toBe('schema-bad-1');
    expect(err['message']).toMatch(/nonce/);
    p.send({ type: 'send', id: 'schema-bad-2', to: 'bob', nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(40), extra: true });
    await expectError(p, 'E_SCHEMA');
    p.send({ type: 'set_status', status: 'sleeping' });
    await expectError(p, 'E_SCHEMA');
    expect(await a.messageStatus({ clientIds: ['schema-bad-1', 'schema-bad-2'] })).toEqual([]);
  });

  it('refuses a frame over the size limit with E_TOO_LARGE and keeps serving the connection', async () => {
    const p = await authenticated(alice);
    p.send({ type: 'send', id: 'too-large-01', to: 'bob', nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(300 * 1024) });
    await expectError(p, 'E_TOO_LARGE');
    p.send({ type: 'list_peers', req_id: 'after-large' });
    expect((await p.next('peers'))['req_id']).toBe('after-large');
  });

  it('refuses frames before hello with E_NOT_AUTHENTICATED', async () => {
    const p = await raw();
    p.send({ type: 'send', id: 'before-hello', to: 'bob', nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(40) });
    const err = await expectError(p, 'E_NOT_AUTHENTICATED');
    expect(err['ref']).toBe('before-hello');
    p.send({ type: 'list_peers', req_id: 'r' });
    await expectError(p, 'E_NOT_AUTHENTICATED');
    expect(p.closed).toBeNull();
  });

  it('closes a hello with a bad signature with E_BAD_SIGNATURE', async () => {
    const p = await raw();
    const hello = buildHello(mesh.meshId, alice, p.challenge);
    p.send({ ...hello, sig: buildHello(mesh.meshId, alice, 'other-nonce')['sig'] });
    await expectError(p, 'E_BAD_SIGNATURE');
    await p.waitClosed();
  });

  it('closes a hello whose session attestation is signed by another key with E_BAD_SIGNATURE', async () => {
    const p = await raw();
    const mallory = generateIdentity();
    const forged = buildHello(mesh.meshId, mallory, p.challenge);
    p.send({ ...forged, member_pubkey: alice.publicKey });
    await expectError(p, 'E_BAD_SIGNATURE');
    await p.waitClosed();
  });

  it('closes a hello with a stale timestamp with E_STALE_TIMESTAMP', async () => {
    const p = await raw();
    p.send(buildHello(mesh.meshId, alice, p.challenge, {}, { ts: Date.now() - 5 * 60_000 }));
    await expectError(p, 'E_STALE_TIMESTAMP');
    await p.waitClosed();
  });

  it('closes a hello with an expired session attestation with E_SESSION_EXPIRED', async () => {
    const p = await raw();
    p.send(buildHello(mesh.meshId, alice, p.challenge, {}, { expiresAt: Date.now() - 1 }));
    await expectError(p, 'E_SESSION_EXPIRED');
  });

  it('refuses a hello replayed on another connection with E_REPLAY, and a second hello with E_ALREADY_AUTHENTICATED', async () => {
    const first = await raw();
    const hello = buildHello(mesh.meshId, alice, first.challenge);
    first.send(hello);
    await first.next('hello_ack');
    first.send(hello);
    await expectError(first, 'E_ALREADY_AUTHENTICATED');
    const second = await raw();
    second.send(hello);
    await expectError(second, 'E_REPLAY');
    await second.waitClosed();
  });

  it('refuses a non-member with E_NOT_MEMBER and an unknown mesh with E_UNKNOWN_MESH', async () => {
    const p = await raw();
    p.send(buildHello(mesh.meshId, generateIdentity(), p.challenge));
    await expectError(p, 'E_NOT_MEMBER');
    await p.waitClosed();
    const q = await raw();
    q.send(buildHello('00000000-0000-4000-8000-000000000000', alice, q.challenge));
    await expectError(q, 'E_UNKNOWN_MESH');
  });

  it('disconnects a revoked member with E_REVOKED and refuses its next hello', async () => {
    const mallory = await addMember(tb, mesh, 'mallory');
    const live = await authenticated(mallory);
    await revokeMember(tb.url, mesh.owner, mesh.meshId, mallory.publicKey);
    await expectError(live, 'E_REVOKED');
    await live.waitClosed();
    const p = await raw();
    p.send(buildHello(mesh.meshId, mallory, p.challenge));
    await expectError(p, 'E_REVOKED');
    await expect(a.send('mallory', 'are you there?')).rejects.toMatchObject({ code: 'E_UNKNOWN_TARGET' });
  });

  it('answers a DM to an unknown target with E_UNKNOWN_TARGET and queues nothing', async () => {
    const p = await authenticated(alice);
    p.send({ type: 'send', id: 'to-nobody-01', to: 'nobody', nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(40) });
    const err = await expectError(p, 'E_UNKNOWN_TARGET');
    expect(err['ref']).toBe('to-nobody-01');
    p.send({ type: 'send', id: 'to-nobody-02', to: 'f'.repeat(64), nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(40) });
    await expectError(p, 'E_UNKNOWN_TARGET');
    const rows = (await tb.broker.app.get((await import('typeorm')).DataSource).query(`SELECT count(*)::int AS n FROM messages WHERE client_id LIKE 'to-nobody-%'`)) as Array<{ n: number }>;
    expect(rows[0]?.n).toBe(0);
  });

  it('closes the connection on a frame above the hard cap without disturbing others', async () => {
    const p = await authenticated(alice);
    p.send(Buffer.alloc(2 * 1024 * 1024, 0x61));
    const closed = await p.waitClosed();
    expect(closed.code).toBe(1009);
  });
});
