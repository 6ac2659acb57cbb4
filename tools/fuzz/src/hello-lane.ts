/**
 * Connection-level cases, one fresh connection each: the hello handshake (§3, §3.1) with valid and
 * forged hellos, junk before the hello, and transport abuse (frames above the hard cap, invalid UTF-8,
 * fragmented messages, abrupt disconnects).
 */
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { LIMITS, type ErrorCode } from '@claudemesh/core';
import { toB64u, type Identity } from '@claudemesh/crypto';
import type { Findings } from './findings.js';
import { junkCase, mutatedFrame, validCase, type FrameCase, type FrameContext } from './frames.js';
import { signedHello } from './keys.js';
import { UNSOLICITED_FRAME_TYPES, checkServerFrame, classifyFrame, excerpt, expectReply, replyKey, type SendModel } from './oracle.js';
import { RawConn } from './ws-lane.js';

export const HELLO_SCENARIOS = [
  'valid',
  'valid-edge',
  'double-hello',
  'broken-then-valid',
  'replayed',
  'bad-sig',
  'bad-session-sig',
  'wrong-nonce',
  'stale',
  'future',
  'expired',
  'too-long',
  'unknown-mesh',
  'not-member',
  'hard-cap',
  'bad-utf8',
  'fragmented',
  'abrupt-close',
] as const;
export type HelloScenario = (typeof HELLO_SCENARIOS)[number];

export interface HelloCase {
  scenario: HelloScenario;
  /** Frames sent before the hello: each must be refused without spending the challenge. */
  pre: FrameCase[];
  /** A schema-broken hello (for broken-then-valid). */
  broken: FrameCase;
  member: number;
  skewMs: number;
  peerType: 'ai' | 'human' | 'connector';
  client: string | undefined;
}

export function helloCase(ctx: FrameContext): fc.Arbitrary<HelloCase> {
  const brokenHello = mutatedFrame(ctx, 'hello').filter((c) => !classifyFrame(c.data).ok);
  return fc.record({
    scenario: fc.constantFrom(...HELLO_SCENARIOS),
    pre: fc.array(fc.oneof(validCase(ctx), mutatedFrame(ctx), junkCase()), { maxLength: 3 }),
    broken: brokenHello,
    member: fc.nat(1000),
    // Past the ±60 s window with a margin: the broker reads its clock a few milliseconds later.
    skewMs: fc.integer({ min: LIMITS.helloSkewMs + 2_000, max: 30 * 24 * 3_600_000 }),
    peerType: fc.constantFrom('ai', 'human', 'connector'),
    client: fc.option(
      fc.string({ unit: 'grapheme', maxLength: 60 }).filter((s) => s.length <= 128),
      { nil: undefined },
    ),
  });
}

export interface HelloEnv {
  wsUrl: string;
  meshId: string;
  /** Members of the mesh whose sessions may come and go. */
  members: Identity[];
  /** A key that is not a member. */
  stranger: Identity;
  /** Fresh session keys (random; sessions are per connection). */
  session: () => Identity;
  model: SendModel;
  findings: Findings;
  timeoutMs: number;
}

const FATAL_CLOSE = 4001;

/** Runs one connection scenario; records violations, never throws for broker misbehaviour. */
export async function runHelloCase(env: HelloEnv, hc: HelloCase): Promise<void> {
  const { findings } = env;
  const label = `hello/${hc.scenario}`;
  findings.countLabel(label);
  let conn: RawConn;
  try {
    conn = await RawConn.open(env.wsUrl, env.timeoutMs);
  } catch (error) {
    findings.violation('connect-failed', `${label}: ${(error as Error).message}`);
    return;
  }
  findings.connections++;
  const frames: Array<Record<string, unknown>> = [];
  conn.onFrame = (frame) => {
    frames.push(frame);
    const bad = checkServerFrame(frame);
    if (bad && !UNSOLICITED_FRAME_TYPES.has(String(frame['type']))) findings.violation('bad-server-frame', `${label}: ${bad}`, JSON.stringify(frame).slice(0, 200));
  };
  const member = env.members[hc.member % env.members.length]!;

  /** Waits for the next non-push reply and returns it (or null on timeout). */
  let seen = 0;
  const nextReply = async (): Promise<Record<string, unknown> | null> => {
    const ok = await conn.until(() => frames.slice(seen).some((f) => !UNSOLICITED_FRAME_TYPES.has(String(f['type'])) && f['type'] !== 'challenge'), env.timeoutMs);
    if (!ok) return null;
    for (;;) {
      const f = frames[seen++]!;
      if (!UNSOLICITED_FRAME_TYPES.has(String(f['type'])) && f['type'] !== 'challenge') {
        findings.replies++;
        return f;
      }
    }
  };
  const expectFrame = async (what: string, outcome: string, refs: ReadonlyArray<string | undefined> = [undefined], context = ''): Promise<boolean> => {
    const reply = await nextReply();
    if (!reply) {
      findings.violation('no-reply', `${label}: no ${outcome} (${what}) within ${env.timeoutMs} ms`, context);
      return false;
    }
    const key = replyKey(reply);
    if (key.outcome !== outcome || !refs.includes(key.ref)) {
      findings.violation(
        'unexpected-reply',
        `${label}: ${what}: expected ${outcome}${refs[0] !== undefined ? ` ref=${refs[0]}` : ''}, got ${key.outcome}${key.ref ? ` ref=${key.ref}` : ''} ${String(reply['message'] ?? '')}`,
        context,
      );
      return false;
    }
    findings.countOutcome(outcome);
    return true;
  };
  const expectFatal = async (code: ErrorCode, context: string): Promise<void> => {
    if (!(await expectFrame('fatal hello', code, [undefined], context))) return conn.terminate();
    if (!(await conn.until(() => conn.closed !== null, env.timeoutMs))) {
      findings.violation('no-close', `${label}: ${code} not followed by a close`, context);
      return conn.terminate();
    }
    if (conn.closed!.code !== FATAL_CLOSE) findings.violation('wrong-close-code', `${label}: ${code} closed with ${conn.closed!.code}, expected ${FATAL_CLOSE}`, context);
  };
  const sendHello = (hello: Record<string, unknown>): string => {
    const text = JSON.stringify(hello);
    conn.send(text);
    findings.frames++;
    return excerpt(text);
  };
  const hello = (over: { ts?: number; expiresAt?: number; nonce?: string; meshId?: string; member?: Identity } = {}): Record<string, unknown> =>
    signedHello(over.meshId ?? env.meshId, over.member ?? member, env.session(), over.nonce ?? conn.challenge!, {
      ...(over.ts !== undefined ? { ts: over.ts } : {}),
      ...(over.expiresAt !== undefined ? { expiresAt: over.expiresAt } : {}),
      peerType: hc.peerType,
      ...(hc.client !== undefined ? { client: hc.client } : {}),
    });
  const authenticate = async (h: Record<string, unknown>): Promise<boolean> => expectFrame('hello', 'hello_ack', [undefined], sendHello(h));
  const listPeers = async (): Promise<void> => {
    conn.send(JSON.stringify({ type: 'list_peers', req_id: 'after-hello' }));
    findings.frames++;
    await expectFrame('list_peers', 'peers', ['after-hello']);
  };

  try {
    // Junk before the hello: refused, connection kept, challenge not spent (§3 step 2 and 4).
    for (const c of hc.pre) {
      const classified = classifyFrame(c.data);
      if (classified.ok && classified.frame.type === 'hello') continue;
      const expectation = expectReply(classified, { authenticated: false, model: env.model }, c.label, c.data);
      conn.send(c.data, c.binary);
      findings.frames++;
      findings.countLabel(c.label);
      if (!expectation) continue;
      const reply = await nextReply();
      const key = reply ? replyKey(reply) : null;
      if (!key || !expectation.outcomes.includes(key.outcome as never) || !expectation.refs.includes(key.ref)) {
        findings.violation(
          reply ? 'unexpected-reply' : 'no-reply',
          `${label}: before hello expected ${expectation.outcomes.join('|')}, got ${key ? `${key.outcome} ref=${String(key.ref)}` : 'nothing'}`,
          `${c.label}: ${expectation.excerpt}`,
        );
        return conn.terminate();
      }
      findings.countOutcome(key.outcome);
    }
    const now = Date.now();
    switch (hc.scenario) {
      case 'valid':
        if (await authenticate(hello())) await listPeers();
        break;
      case 'valid-edge':
        // Extremes accepted: the longest session (a minute inside the 30-day maximum), a long unicode client string.
        if (await authenticate(hello({ expiresAt: now + LIMITS.maxSessionTtlMs - 60_000 }))) await listPeers();
        break;
      case 'too-long':
        // §3.1 step 3: an attestation further ahead than the 30-day maximum.
        await expectFatal('E_SESSION_EXPIRED', sendHello(hello({ expiresAt: now + LIMITS.maxSessionTtlMs + hc.skewMs })));
        break;
      case 'double-hello': {
        const h = hello();
        if (!(await authenticate(h))) break;
        sendHello(h);
        if (await expectFrame('second hello', 'E_ALREADY_AUTHENTICATED')) await listPeers();
        break;
      }
      case 'broken-then-valid':
        conn.send(hc.broken.data, hc.broken.binary);
        findings.frames++;
        if (!(await expectFrame('broken hello', classifiedCode(hc.broken), refsOf(hc.broken), `${hc.broken.label}: ${excerpt(hc.broken.data)}`))) break;
        if (await authenticate(hello())) await listPeers();
        break;
      case 'replayed': {
        const other = await RawConn.open(env.wsUrl, env.timeoutMs);
        findings.connections++;
        const stolen = signedHello(env.meshId, member, env.session(), other.challenge!);
        await expectFatal('E_REPLAY', sendHello(stolen));
        // The victim's challenge was not spent by the replay.
        other.onFrame = (frame) => frames.push(frame);
        seen = frames.length;
        const ctx = excerpt(JSON.stringify(stolen));
        other.send(JSON.stringify(stolen));
        findings.frames++;
        const ok = await other.until(() => frames.slice(seen).some((f) => f['type'] === 'hello_ack' || f['type'] === 'error'), env.timeoutMs);
        const reply = frames.slice(seen).find((f) => f['type'] === 'hello_ack' || f['type'] === 'error');
        if (!ok || reply?.['type'] !== 'hello_ack') findings.violation('unexpected-reply', `${label}: the victim's own hello got ${JSON.stringify(reply ?? null)}`, ctx);
        other.close();
        break;
      }
      case 'bad-sig': {
        const h = hello();
        await expectFatal('E_BAD_SIGNATURE', sendHello({ ...h, sig: hello({ nonce: 'other-nonce' })['sig'] }));
        break;
      }
      case 'bad-session-sig': {
        const forged = signedHello(env.meshId, env.stranger, env.session(), conn.challenge!);
        await expectFatal('E_BAD_SIGNATURE', sendHello({ ...forged, member_pubkey: member.publicKey }));
        break;
      }
      case 'wrong-nonce':
        await expectFatal('E_REPLAY', sendHello(hello({ nonce: toB64u(new Uint8Array(Buffer.from(`not-${conn.challenge}`))) })));
        break;
      case 'stale':
        await expectFatal('E_STALE_TIMESTAMP', sendHello(hello({ ts: Math.max(0, now - hc.skewMs) })));
        break;
      case 'future':
        await expectFatal('E_STALE_TIMESTAMP', sendHello(hello({ ts: now + hc.skewMs })));
        break;
      case 'expired':
        await expectFatal('E_SESSION_EXPIRED', sendHello(hello({ expiresAt: Math.max(0, now - hc.skewMs) })));
        break;
      case 'unknown-mesh':
        await expectFatal('E_UNKNOWN_MESH', sendHello(hello({ meshId: randomUUID() })));
        break;
      case 'not-member':
        await expectFatal('E_NOT_MEMBER', sendHello(hello({ member: env.stranger })));
        break;
      case 'hard-cap': {
        // Above 4 × the frame limit the WebSocket layer closes with 1009 and no error frame (§1.2).
        if (!(await authenticate(hello()))) break;
        const before = frames.length;
        conn.send(Buffer.alloc(4 * LIMITS.maxFrameBytes + 1 + (hc.member % 1000), 0x20), hc.member % 2 === 0);
        findings.frames++;
        if (!(await conn.until(() => conn.closed !== null, env.timeoutMs))) findings.violation('no-close', `${label}: frame above the hard cap did not close the connection`);
        else if (conn.closed!.code !== 1009) findings.violation('wrong-close-code', `${label}: closed with ${conn.closed!.code}, expected 1009`);
        const errors = frames.slice(before).filter((f) => f['type'] === 'error');
        if (errors.length > 0) findings.violation('unexpected-reply', `${label}: error frame before the 1009 close: ${JSON.stringify(errors[0])}`);
        break;
      }
      case 'bad-utf8': {
        // A text frame that is not UTF-8 violates RFC 6455: the WebSocket layer closes with 1007.
        conn.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), false);
        findings.frames++;
        if (!(await conn.until(() => conn.closed !== null, env.timeoutMs))) findings.violation('no-close', `${label}: invalid UTF-8 text frame did not close the connection`);
        else if (conn.closed!.code !== 1007) findings.violation('wrong-close-code', `${label}: closed with ${conn.closed!.code}, expected 1007`);
        break;
      }
      case 'fragmented': {
        if (!(await authenticate(hello()))) break;
        const text = JSON.stringify({ type: 'list_peers', req_id: 'fragmented' });
        const cut = [1, Math.floor(text.length / 2), text.length - 1];
        conn.send(text.slice(0, cut[0]), false, false);
        conn.send(text.slice(cut[0], cut[1]), false, false);
        conn.send(text.slice(cut[1]), false, true);
        findings.frames++;
        await expectFrame('fragmented list_peers', 'peers', ['fragmented']);
        break;
      }
      case 'abrupt-close': {
        if (!(await authenticate(hello()))) break;
        for (const c of hc.pre.length > 0 ? hc.pre : [{ data: '{"type":"list_peers","req_id":"x"}', binary: false, label: 'x' } as FrameCase]) conn.send(c.data, c.binary);
        conn.terminate();
        return;
      }
    }
  } finally {
    if (!conn.closed) conn.close();
  }
}

function classifiedCode(c: FrameCase): string {
  const classified = classifyFrame(c.data);
  return classified.ok ? 'valid' : classified.code;
}

function refsOf(c: FrameCase): ReadonlyArray<string | undefined> {
  const classified = classifyFrame(c.data);
  return classified.ok ? [undefined] : classified.refs;
}
