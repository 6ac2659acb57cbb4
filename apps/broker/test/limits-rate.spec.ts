/**
 * Token buckets per connection and per member (docs/protocol.md §1.2): frames, bytes and costly
 * frames beyond a bucket are refused with E_RATE_LIMITED, carrying the refused frame's ref and
 * `retry_after_ms`; confirmations are never refused. The SDK waits that long and sends the same
 * frame again under the same id, so nothing is dropped. Tiny limits set through the broker's env.
 */
import type { InboundMessage, MeshClient } from '@claudemesh/core';
import type { Identity } from '@claudemesh/crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { RawPeer } from '../../../test/helpers/raw-ws.js';
import { helloPeer } from './hello-frames.js';

type Frame = Record<string, unknown>;

/** Every reply whose ref (req_id, or error ref) is one of `refs`, once each have come. */
async function repliesTo(peer: RawPeer, refs: string[], timeoutMs = 20_000): Promise<Map<string, Frame>> {
  const want = new Set(refs);
  const replyRef = (f: Frame) => (typeof f['req_id'] === 'string' ? f['req_id'] : typeof f['ref'] === 'string' ? f['ref'] : typeof f['id'] === 'string' ? f['id'] : undefined);
  await waitFor(() => peer.frames.filter((f) => want.has(replyRef(f) ?? '')).length >= want.size, `${want.size} replies`, timeoutMs);
  return new Map(peer.frames.flatMap((f) => (want.has(replyRef(f) ?? '') ? [[replyRef(f)!, f] as const] : [])));
}

const refused = (replies: Map<string, Frame>) => [...replies.values()].filter((f) => f['type'] === 'error' && f['code'] === 'E_RATE_LIMITED');

function expectRetryAfter(frames: Frame[]): number {
  for (const f of frames) {
    expect(f['retry_after_ms']).toEqual(expect.any(Number));
    expect(f['retry_after_ms'] as number).toBeGreaterThan(0);
  }
  return Math.max(...frames.map((f) => f['retry_after_ms'] as number));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The buckets live in the broker's memory and no query touches them: one database suffices (the
// embedded one, whose single session is the one a flood would starve).
describe('rate limits', () => {
  const kind = 'embedded' as const;
  let tb: TestBroker;
  let mesh: TestMesh;
  // Fresh members for every test: their buckets start full, so no test waits for a refill.
  let alice: Identity;
  let bob: Identity;
  let carol: Identity;
  let round = 0;
  const peers: RawPeer[] = [];
  const clients: MeshClient[] = [];

  async function authenticated(identity: Identity): Promise<RawPeer> {
    const p = await helloPeer(tb.wsUrl, mesh.meshId, identity);
    peers.push(p);
    return p;
  }

  beforeAll(async () => {
    tb = await startTestBroker(kind, {
      // A connection: 5 frames a second (10 at once), 64 KiB a second, 2 costly frames a second.
      CLAUDEMESH_WS_CONN_FRAMES_PER_S: '5',
      CLAUDEMESH_WS_CONN_BYTES_PER_S: String(64 * 1024),
      CLAUDEMESH_WS_CONN_COSTLY_PER_S: '2',
      // A member, over all its connections: 8 frames a second (16 at once).
      CLAUDEMESH_WS_MEMBER_FRAMES_PER_S: '8',
      CLAUDEMESH_WS_MEMBER_BYTES_PER_S: String(1024 * 1024),
      CLAUDEMESH_WS_MEMBER_COSTLY_PER_S: '100',
    });
    mesh = await createTestMesh(tb);
  }, 60_000);

  beforeEach(async () => {
    round++;
    alice = await addMember(tb, mesh, `alice${round}`);
    bob = await addMember(tb, mesh, `bob${round}`);
    carol = await addMember(tb, mesh, `carol${round}`);
  });

  afterEach(async () => {
    for (const p of peers.splice(0)) p.close();
    for (const c of clients.splice(0)) await c.close();
  });

  afterAll(async () => {
    await tb?.close();
  });

  it('refuses frames beyond a connection’s frame rate with E_RATE_LIMITED, ref and retry_after_ms, never refuses confirmations, and takes the frame after the wait', async () => {
    const p = await authenticated(alice);
    const refs = Array.from({ length: 30 }, (_, i) => `st-${i}`);
    for (const [i, ref] of refs.entries()) {
      p.send({ type: 'set_status', status: 'working', req_id: ref });
      // Confirmations (of ids that name nothing) are counted, never refused, never answered.
      if (i % 5 === 0) p.send({ type: 'delivered', message_ids: ['1'] });
    }
    const replies = await repliesTo(p, refs);
    const limited = refused(replies);
    expect(limited.length).toBeGreaterThan(0);
    expect([...replies.values()].filter((f) => f['type'] === 'ok').length).toBeGreaterThan(0);
    expect(limited.length + [...replies.values()].filter((f) => f['type'] === 'ok').length).toBe(refs.length);
    expect(p.frames.filter((f) => f['type'] === 'error' && f['ref'] === undefined)).toEqual([]);
    const wait = expectRetryAfter(limited);

    // After the wait the same frame passes, on the same connection.
    await sleep(wait);
    p.send({ type: 'set_status', status: 'idle', req_id: 'after-wait' });
    expect((await repliesTo(p, ['after-wait'])).get('after-wait')).toMatchObject({ type: 'ok' });
    expect(p.closed).toBeNull();
  });

  it('limits costly frames (list_peers, message_status) apart from cheap ones', async () => {
    const i = (ref: string) => Number(ref.slice(3));
    const p = await authenticated(alice);
    const costly = Array.from({ length: 12 }, (_, i) => `lp-${i}`);
    for (const ref of costly) p.send({ type: i(ref) % 3 === 0 ? 'message_status' : 'list_peers', req_id: ref, ...(i(ref) % 3 === 0 ? { client_ids: ['nothing-sent-1'] } : {}) });
    const replies = await repliesTo(p, costly);
    const limited = refused(replies);
    // 4 at once (two seconds' worth) pass; the others get E_RATE_LIMITED or wait behind it.
    expect(limited.length).toBeGreaterThanOrEqual(2);
    expect([...replies.values()].filter((f) => f['type'] === 'peers').length).toBeGreaterThan(0);
    expectRetryAfter(limited);
    // Meanwhile cheap frames pass: their own buckets are not empty.
    const cheap = Array.from({ length: 4 }, (_, n) => `cheap-${n}`);
    for (const ref of cheap) p.send({ type: 'set_status', status: 'idle', req_id: ref });
    expect(refused(await repliesTo(p, cheap))).toEqual([]);
  });

  it('counts epoch frames as costly, and the SDK retries refused epoch requests until they pass', async () => {
    const p = await authenticated(alice);
    const refs = Array.from({ length: 8 }, (_, n) => `eg-${n}`);
    for (const ref of refs) p.send({ type: 'epoch_get', req_id: ref, scope: 'topic:general' });
    const replies = await repliesTo(p, refs);
    expect(refused(replies).length).toBeGreaterThanOrEqual(2);
    expect([...replies.values()].filter((f) => f['type'] === 'epochs').length).toBeGreaterThan(0);
    expectRetryAfter(refused(replies));

    const c = await connectClient(tb, mesh, bob);
    clients.push(c);
    const pages = await Promise.all(Array.from({ length: 8 }, () => c.getEpochs('topic:general')));
    expect(pages.map((x) => x.scope)).toEqual(Array.from({ length: 8 }, () => 'topic:general'));
  });

  it('limits the bytes a connection sends per second', async () => {
    const p = await authenticated(alice);
    // 50 KiB of ciphertext per send: the 128 KiB bucket takes two or three of six.
    const ids = Array.from({ length: 6 }, (_, i) => `bytes-send-${i}`);
    for (const id of ids) p.send({ type: 'send', id, to: `bob${round}`, nonce: 'A'.repeat(32), ciphertext: 'A'.repeat(Math.ceil((50 * 1024 * 4) / 3)) });
    const replies = await repliesTo(p, ids);
    const limited = refused(replies);
    expect(limited.length).toBeGreaterThanOrEqual(2);
    expect([...replies.values()].filter((f) => f['type'] === 'ack').length).toBeGreaterThanOrEqual(2);
    expectRetryAfter(limited);
  });

  it('shares one member’s buckets across its connections, and leaves other members alone', async () => {
    const [a1, a2] = [await authenticated(alice), await authenticated(alice)];
    const b1 = await authenticated(bob);
    // 10 frames on each of alice's connections: each within its own bucket (10), together past hers (16).
    const refsOf = (tag: string) => Array.from({ length: 10 }, (_, i) => `${tag}-${i}`);
    for (const [p, tag] of [
      [a1, 'a1'],
      [a2, 'a2'],
      [b1, 'b1'],
    ] as const) {
      for (const ref of refsOf(tag)) p.send({ type: 'set_summary', summary: 's', req_id: ref });
    }
    const limitedAlice = [...refused(await repliesTo(a1, refsOf('a1'))), ...refused(await repliesTo(a2, refsOf('a2')))];
    expect(limitedAlice.length).toBeGreaterThanOrEqual(1);
    expectRetryAfter(limitedAlice);
    expect(refused(await repliesTo(b1, refsOf('b1')))).toEqual([]);
  });

  it('has the SDK wait retry_after_ms and retry under the same id: every send, topic post and request succeeds once, nothing is dropped', async () => {
    const inbox: InboundMessage[] = [];
    // No periodic resend: only the E_RATE_LIMITED handling can bring a refused send back.
    const a = await connectClient(tb, mesh, alice, { resendAfterMs: 600_000 });
    const c = await connectClient(tb, mesh, carol, {}, inbox);
    clients.push(a, c);
    await a.listPeers();
    const texts = Array.from({ length: 40 }, (_, i) => `paced ${i}`);
    const [acks, posts, peerLists] = await Promise.all([
      Promise.all(texts.map((t, i) => a.send(`carol${round}`, t, { id: `paced-send-${String(i).padStart(3, '0')}` }))),
      Promise.all(Array.from({ length: 10 }, (_, i) => a.topicSend('general', `paced post ${i}`))),
      Promise.all(Array.from({ length: 8 }, () => a.listPeers())),
    ]);
    expect(acks.every((ack) => !ack.duplicate)).toBe(true);
    expect(new Set(acks.map((ack) => ack.message_id)).size).toBe(texts.length);
    expect(posts.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `paced post ${i}`));
    expect(peerLists.every((list) => list.some((p) => p.display_name === `carol${round}`))).toBe(true);
    await waitFor(() => inbox.length >= texts.length, 'carol to get every paced DM', 30_000);
    expect(inbox.map((m) => m.text).sort()).toEqual([...texts].sort());
    const status = await a.messageStatus({ clientIds: texts.map((_, i) => `paced-send-${String(i).padStart(3, '0')}`) });
    expect(status).toHaveLength(texts.length);
  }, 90_000);
});
