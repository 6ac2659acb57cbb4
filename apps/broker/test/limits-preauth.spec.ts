/**
 * Limits before authentication (docs/protocol.md §1.2, §3): connections from one IP address that
 * have not completed hello are capped (the next one gets E_RATE_LIMITED with retry_after_ms and
 * close 4001), and so are the frames and bytes one connection may send before its hello (past
 * them: E_NOT_AUTHENTICATED and close 4001). The SDK waits and connects again. Tiny limits set
 * through the broker's env; real broker, raw WebSockets and the real SDK.
 */
import type { MeshClient } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { buildHello } from './hello-frames.js';

const PER_IP = 2;
const FRAMES = 4;
const BYTES = 8 * 1024;

/** A connection's first frame and its close, for a connection that may be refused at once. */
async function firstFrameAndClose(url: string): Promise<{ first: Record<string, unknown>; close: { code: number; reason: string } }> {
  const ws = new WebSocket(url);
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>));
  ws.on('error', () => undefined);
  const close = await new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { first: frames[0]!, close };
}

async function until(predicate: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The first frame on a new connection, which is then dropped. */
async function firstFrame(url: string): Promise<Record<string, unknown>> {
  const ws = new WebSocket(url);
  ws.on('error', () => undefined);
  const [data] = (await once(ws, 'message')) as [Buffer];
  ws.terminate();
  return JSON.parse(data.toString('utf8')) as Record<string, unknown>;
}

describe.each(dbKinds())('limits before hello on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let alice: Identity;
  const peers: RawPeer[] = [];
  const clients: MeshClient[] = [];

  async function raw(): Promise<RawPeer> {
    const p = await RawPeer.connect(tb.wsUrl);
    peers.push(p);
    return p;
  }

  beforeAll(async () => {
    tb = await startTestBroker(kind, {
      CLAUDEMESH_WS_PREAUTH_PER_IP: String(PER_IP),
      CLAUDEMESH_WS_PREAUTH_FRAMES: String(FRAMES),
      CLAUDEMESH_WS_PREAUTH_BYTES: String(BYTES),
    });
    mesh = await createTestMesh(tb);
    alice = await addMember(tb, mesh, 'alice');
  }, 60_000);

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const p of peers.splice(0)) {
      p.close();
      await p.waitClosed();
    }
    // The next test starts with every slot free.
    await until(async () => (await firstFrame(tb.wsUrl))['type'] === 'challenge', 'a free pre-hello slot');
  });

  afterAll(async () => {
    await tb?.close();
  });

  it('refuses a connection beyond the per-address count awaiting hello with E_RATE_LIMITED and close 4001, and takes one again once a slot is free', async () => {
    const waiting = [await raw(), await raw()];
    const refused = await firstFrameAndClose(tb.wsUrl);
    expect(refused.first).toMatchObject({ type: 'error', code: 'E_RATE_LIMITED' });
    expect(refused.first['retry_after_ms']).toEqual(expect.any(Number));
    expect(refused.close.code).toBe(4001);

    // Completing hello gives the slot back.
    waiting[0]!.send(buildHello(mesh.meshId, alice, waiting[0]!.challenge));
    await waiting[0]!.next('hello_ack');
    const admitted = await raw();
    expect(admitted.challenge).toEqual(expect.any(String));
    expect((await firstFrame(tb.wsUrl))['code']).toBe('E_RATE_LIMITED');
    // So does closing before hello.
    waiting[1]!.close();
    await waiting[1]!.waitClosed();
    await until(async () => (await firstFrame(tb.wsUrl))['type'] === 'challenge', 'a challenge once the waiting connection closed');
  });

  it('closes a connection that sends more frames than allowed before hello, with E_NOT_AUTHENTICATED and close 4001; after hello the cap is gone', async () => {
    const p = await raw();
    for (let i = 0; i < FRAMES; i++) p.send({ type: 'list_peers', req_id: `pre-${i}` });
    await waitFor(() => p.frames.filter((f) => f['type'] === 'error').length >= FRAMES, 'an answer to each allowed frame');
    expect(p.closed).toBeNull();
    p.send({ type: 'list_peers', req_id: 'one-too-many' });
    const closed = await p.waitClosed();
    expect(closed.code).toBe(4001);
    expect(p.frames.at(-1)).toMatchObject({ type: 'error', code: 'E_NOT_AUTHENTICATED' });
    expect(String(p.frames.at(-1)!['message'])).toMatch(/before hello/);

    const authenticated = await raw();
    authenticated.send(buildHello(mesh.meshId, alice, authenticated.challenge));
    await authenticated.next('hello_ack');
    for (let i = 0; i < FRAMES * 3; i++) authenticated.send({ type: 'set_summary', summary: 'y'.repeat(1000), req_id: `post-${i}` });
    await waitFor(() => authenticated.frames.filter((f) => f['type'] === 'ok').length >= FRAMES * 3, 'every frame answered');
    expect(authenticated.closed).toBeNull();
  });

  it('closes a connection that sends more bytes than allowed before hello, with E_NOT_AUTHENTICATED and close 4001', async () => {
    const p = await raw();
    p.send(JSON.stringify({ type: 'set_summary', summary: 'x'.repeat(BYTES) }));
    const closed = await p.waitClosed();
    expect(closed.code).toBe(4001);
    expect(p.frames.at(-1)).toMatchObject({ type: 'error', code: 'E_NOT_AUTHENTICATED' });
  });

  it('has the SDK wait retry_after_ms and connect once its address has a free slot', async () => {
    const waiting = [await raw(), await raw()];
    const client = connectClient(tb, mesh, alice);
    // The broker refuses it for now; a slot frees a moment later.
    await new Promise((r) => setTimeout(r, 300));
    waiting[0]!.close();
    const c = await client;
    clients.push(c);
    expect(c.connected).toBe(true);
    expect((await c.listPeers()).some((peer) => peer.display_name === 'alice')).toBe(true);
  });
});
