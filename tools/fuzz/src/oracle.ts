/**
 * The oracle: what the protocol (docs/protocol.md) says the broker must answer.
 *
 * - `classifyFrame` is a reference reading of §3.3 (size → JSON object → `type` → known type →
 *   schema), written from the document; step 5 uses the zod schemas, the machine-readable form of §5.2.
 * - `expectReply` adds the connection state (§3: nothing but `hello` before authentication) and the
 *   send path's own checks (§6.1 targets, §1.2 ciphertext minimum) and gives the allowed replies;
 *   for grants and shared state (§5.5, §6.4) the lane's GrantStateModel gives them, with a check of
 *   the success reply's content.
 * - `checkServerFrame` / `checkRestResponse` are the invariants every answer must satisfy: a code from
 *   the frozen table, `message` a string, the table's HTTP status, never a 5xx for client garbage.
 */
import { CLIENT_FRAME_SCHEMAS, ERROR_CODES, LIMITS, SERVER_FRAME_SCHEMAS, isErrorCode, type ClientFrame, type ClientFrameType, type ErrorCode } from '@claudemesh/core';
import { decodedLength, lenientRule, type GrantStateModel, type ReplyRule } from './grant-state-model.js';
import { repeatsAKey, utf8Length } from './json-text.js';
import type { Expected, FrameCase } from './frames.js';

export type Classified =
  | { ok: true; frame: ClientFrame }
  | {
      ok: false;
      code: ErrorCode;
      /** The refs the error frame may carry (§3.3: a string `req_id`, preferred, or `id`, ≤ 64 chars). */
      refs: ReadonlyArray<string | undefined>;
    };

const CLIENT_TYPES = new Set<string>(Object.keys(CLIENT_FRAME_SCHEMAS));

/**
 * §3.3: an error carries `ref` "when the offending frame had a string req_id (preferred) or id of at
 * most 64 characters". Where that sentence leaves room, every reading is accepted: characters counted
 * as code points (the schemas' unit) or UTF-16 units; an empty string carried or dropped; an unusable
 * req_id (not a string, too long) falling back to id or giving no ref.
 */
function refCandidates(obj: Record<string, unknown>): Array<string | undefined> {
  const out = new Set<string | undefined>();
  const reqId = obj['req_id'];
  const id = obj['id'];
  for (const units of [true, false]) {
    const usable = (v: unknown): v is string => typeof v === 'string' && (units ? v.length : [...v].length) <= 64;
    if (usable(reqId)) out.add(reqId);
    else if (usable(id)) out.add(id);
    else out.add(undefined);
    if (!usable(reqId) && reqId !== undefined && reqId !== null) out.add(undefined);
  }
  if (out.has('')) out.add(undefined);
  return [...out];
}

/** Decodes one frame exactly as §3.3 orders the checks. `data` is what went on the wire. */
export function classifyFrame(data: string | Uint8Array): Classified {
  if (utf8Length(data) > LIMITS.maxFrameBytes) return { ok: false, code: 'E_TOO_LARGE', refs: [undefined] };
  // A binary frame holds UTF-8 exactly: bytes that do not survive a decode and re-encode are refused.
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  if (typeof data !== 'string' && !Buffer.from(text, 'utf8').equals(Buffer.from(data))) return { ok: false, code: 'E_BAD_FRAME', refs: [undefined] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'E_BAD_FRAME', refs: [undefined] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, code: 'E_BAD_FRAME', refs: [undefined] };
  if (repeatsAKey(text)) return { ok: false, code: 'E_BAD_FRAME', refs: [undefined] };
  const obj = value as Record<string, unknown>;
  const refs = refCandidates(obj);
  const type = Object.hasOwn(obj, 'type') ? obj['type'] : undefined;
  if (typeof type !== 'string') return { ok: false, code: 'E_SCHEMA', refs };
  if (!CLIENT_TYPES.has(type)) return { ok: false, code: 'E_UNKNOWN_TYPE', refs };
  const parsed = CLIENT_FRAME_SCHEMAS[type as ClientFrameType].safeParse(obj);
  if (!parsed.success) return { ok: false, code: 'E_SCHEMA', refs };
  return { ok: true, frame: parsed.data as ClientFrame };
}

export function classifiedAs(c: Classified): Expected {
  return c.ok ? 'valid' : c.code;
}

/** A generator's declared outcome must agree with the reference decoder; a disagreement is a finding. */
export function selfCheck(fc: FrameCase, c: Classified): string | null {
  if (fc.expect === undefined || fc.expect === classifiedAs(c)) return null;
  return `generator declares ${fc.expect} for ${fc.label}, the reference decoder says ${classifiedAs(c)}`;
}

// ---------------------------------------------------------------------------------------------
// Replies

/** A reply the broker may send for one client frame. `none` means it must stay silent. */
export type Outcome = 'ack' | 'peers' | 'ok' | 'message_status_result' | 'grants' | 'state' | 'topic_ack' | 'topic_messages' | 'epoch_ack' | 'epochs' | 'none' | ErrorCode;

/** Server frames that answer no request: pushes, receipts and topic messages posted by others. */
export const UNSOLICITED_FRAME_TYPES: ReadonlySet<string> = new Set(['push', 'receipt', 'topic_message', 'epoch_new', 'epoch_seal_new']);

export interface Expectation extends Partial<Omit<ReplyRule, 'outcomes'>> {
  label: string;
  /** Refs the reply may carry (the error `ref`, `ack.id` or the echoed `req_id`). */
  refs: ReadonlyArray<string | undefined>;
  outcomes: readonly Outcome[];
  /** Frame excerpt, for reports. */
  excerpt: string;
  /** A reply that may come or not (a frame that expects none, under rate limits: its refusal). */
  optional?: boolean;
}

/** What a connection's peer knows about the mesh, to predict send outcomes (§6.1, §7.1). */
export interface SendModel {
  /** 'known' resolves, 'unknown' does not, 'maybe' cannot be predicted (e.g. a random display name). */
  target(to: string): 'known' | 'unknown' | 'maybe';
  /** Client ids of this member that may already be stored (a retry of them is acked as a duplicate). */
  mayBeStored(id: string): boolean;
  noteSent(id: string): void;
  /**
   * What a topic name is in the lane's mesh: #general is plaintext; the mesh may have e2e topics
   * (with no epoch ever stored); anything else is missing. Absent: only #general exists.
   */
  topicMode?(topic: string): 'plaintext' | 'e2e' | 'missing';
}

export interface ConnState {
  authenticated: boolean;
  model: SendModel;
  /** The lane member's grants and keys; absent, any answer the protocol allows is accepted. */
  grantState?: GrantStateModel;
  /**
   * The broker runs with tiny rate limits (§1.2): any frame but `delivered` and `read` may instead
   * be refused with E_RATE_LIMITED (with its ref), and a frame that expects no reply may get one.
   */
  rateLimited?: boolean;
}

export function excerpt(data: string | Uint8Array, max = 160): string {
  const t = typeof data === 'string' ? data : `<binary ${data.byteLength} B> ${Buffer.from(data.subarray(0, max)).toString('utf8')}`;
  return t.length > max ? `${t.slice(0, max)}… (${utf8Length(data)} B)` : t;
}

/**
 * Notes the client id of a send that may be stored. Frames are handled concurrently (§3.3), so a
 * lane notes a whole window first: a send refused for its target may find its id stored by a later
 * frame of the same window and be acked as a duplicate (§7.1).
 */
export function noteStorable(c: Classified, state: ConnState): void {
  if (!state.authenticated || !c.ok || c.frame.type !== 'send') return;
  if (state.model.target(c.frame.to) !== 'unknown' && decodedLength(c.frame.ciphertext) >= 16) state.model.noteSent(c.frame.id);
}

/**
 * The allowed replies to a frame, or null when it must get none. A schema-valid `hello` on an
 * unauthenticated connection is not predicted here: it ends the connection (see the hello lane).
 */
export function expectReply(c: Classified, state: ConnState, label: string, data: string | Uint8Array): Expectation | null {
  const expected = expectHandled(c, state, label, data);
  if (!state.authenticated || !state.rateLimited || (c.ok && (c.frame.type === 'delivered' || c.frame.type === 'read'))) return expected;
  if (expected) return { ...expected, outcomes: [...expected.outcomes, 'E_RATE_LIMITED'] };
  return { label, refs: c.ok ? [refOf(c.frame)] : c.refs, outcomes: ['E_RATE_LIMITED'], excerpt: excerpt(data), optional: true };
}

function refOf(frame: ClientFrame): string | undefined {
  return 'req_id' in frame && frame.req_id !== undefined ? frame.req_id : 'id' in frame ? frame.id : undefined;
}

function topicMode(state: ConnState, topic: string): 'plaintext' | 'e2e' | 'missing' {
  return state.model.topicMode?.(topic) ?? (topic === 'general' ? 'plaintext' : 'missing');
}

/** The reply a frame gets when it is handled. */
function expectHandled(c: Classified, state: ConnState, label: string, data: string | Uint8Array): Expectation | null {
  const mk = (outcomes: Outcome[], refs: ReadonlyArray<string | undefined>): Expectation => ({ label, refs, outcomes, excerpt: excerpt(data) });
  if (!c.ok) return mk([c.code], c.refs);
  const frame = c.frame;
  const ref = refOf(frame);
  if (frame.type === 'hello') return mk([state.authenticated ? 'E_ALREADY_AUTHENTICATED' : 'E_REPLAY'], [undefined]);
  if (!state.authenticated) return mk(['E_NOT_AUTHENTICATED'], [ref]);
  switch (frame.type) {
    // The target is resolved first (E_UNKNOWN_TARGET). A `@group` / `*` send then meets the mesh
    // epoch check (mesh-epoch.check.ts): no mesh epoch is ever stored in a fuzzed mesh (no publish of
    // the run is valid, the control peers only DM), so version 1 is taken and version 2 is
    // E_EPOCH_STALE (current_epoch 0) before its nonce, ciphertext or signature are looked at, and is
    // never stored. A refusal of an id already stored is acked as its duplicate.
    case 'send': {
      const target = state.model.target(frame.to);
      const sealed = frame.body_version === 2;
      const short = decodedLength(frame.ciphertext) < 16;
      const stored = state.model.mayBeStored(frame.id);
      const outcomes: Outcome[] = [];
      if (sealed) {
        if (target !== 'unknown') outcomes.push('E_EPOCH_STALE', ...(stored ? (['ack'] as const) : []));
        if (target !== 'known') outcomes.push('E_UNKNOWN_TARGET', ...(stored ? (['ack'] as const) : []));
        return mk([...new Set(outcomes)], [frame.id]);
      }
      if (target !== 'unknown') outcomes.push(short ? 'E_SCHEMA' : 'ack');
      if (target !== 'known') outcomes.push('E_UNKNOWN_TARGET', ...(stored ? (['ack'] as const) : []));
      if (target !== 'unknown' && !short) state.model.noteSent(frame.id);
      return mk(outcomes, [frame.id]);
    }
    case 'delivered':
    case 'read':
      return null;
    case 'list_peers':
      return mk(['peers'], [frame.req_id]);
    case 'message_status':
      return mk(['message_status_result'], [frame.req_id]);
    // #general is plaintext; e2e topics have no epoch (no publish of the run is valid). The body
    // version must be the topic's (E_TOPIC_MODE, checked first); a sealed post then meets the
    // epoch check: E_EPOCH_STALE (current_epoch 0), before its signature or reply_to are looked at.
    // A client id may repeat across cases (boundary values), with another text: E_CONFLICT. A
    // random reply_to is rarely a message of #general: E_SCHEMA, or an ack.
    case 'topic_send': {
      const mode = topicMode(state, frame.topic);
      if (mode === 'missing') return mk(['E_NOT_FOUND'], [frame.id]);
      const sealed = frame.body_version === 2;
      if (sealed !== (mode === 'e2e')) return mk(['E_TOPIC_MODE'], [frame.id]);
      if (sealed) return mk(['E_EPOCH_STALE'], [frame.id]);
      return mk(['topic_ack', 'E_CONFLICT', ...(frame.reply_to !== undefined ? (['E_SCHEMA'] as const) : [])], [frame.id]);
    }
    case 'topic_history':
      return mk([topicMode(state, frame.topic) !== 'missing' ? 'topic_messages' : 'E_NOT_FOUND'], [frame.req_id]);
    // No frame of the run carries a valid signature, so no epoch is ever stored: a publish is refused
    // (another mesh or creator, strangers listed, a missing topic, the signature), a seal finds no epoch.
    case 'epoch_publish':
      return mk(['E_EPOCH_INVALID', 'E_FORBIDDEN', 'E_EPOCH_CONFLICT', 'E_NOT_FOUND'], [frame.req_id]);
    case 'epoch_get':
      return mk([frame.scope === 'mesh' || (frame.scope.startsWith('topic:') && topicMode(state, frame.scope.slice(6)) !== 'missing') ? 'epochs' : 'E_NOT_FOUND'], [frame.req_id]);
    case 'epoch_seal':
      return mk(['E_NOT_FOUND'], [frame.req_id]);
    case 'set_grants':
    case 'list_grants':
    case 'state_set':
    case 'state_get': {
      const { outcomes, ...hooks } = state.grantState?.expect(frame) ?? lenientRule(frame);
      return { ...mk(outcomes, [frame.req_id]), ...hooks };
    }
    default:
      return frame.req_id !== undefined ? mk(['ok'], [frame.req_id]) : null;
  }
}

/**
 * Frames of one window whose replies could be mistaken for each other (a shared ref and a common
 * outcome) may get any of their outcomes, and their content is not checked: which reply is whose is
 * not known. Returns how many expectations were widened.
 */
export function widenAmbiguous(expectations: Expectation[]): number {
  const parent = expectations.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i]!)));
  const byRef = new Map<string | undefined, number[]>();
  expectations.forEach((e, i) => e.refs.forEach((r) => byRef.set(r, [...(byRef.get(r) ?? []), i])));
  for (const group of byRef.values()) {
    for (let a = 0; a < group.length; a++)
      for (let b = a + 1; b < group.length; b++) {
        const [i, j] = [group[a]!, group[b]!];
        if (expectations[i]!.outcomes.some((o) => expectations[j]!.outcomes.includes(o))) parent[root(i)] = root(j);
      }
  }
  const members = new Map<number, number[]>();
  expectations.forEach((_, i) => members.set(root(i), [...(members.get(root(i)) ?? []), i]));
  let widened = 0;
  for (const group of members.values()) {
    if (group.length < 2 || !group.some((i) => expectations[i]!.check || expectations[i]!.onReply || expectations[i]!.outcomes.length > 1)) continue;
    const outcomes = [...new Set(group.flatMap((i) => expectations[i]!.outcomes))];
    for (const i of group) {
      const { check: _check, onReply: _onReply, onAmbiguous, ...rest } = expectations[i]!;
      onAmbiguous?.();
      expectations[i] = { ...rest, outcomes };
      widened++;
    }
  }
  return widened;
}

/** The outcome and ref of a reply frame. */
export function replyKey(frame: Record<string, unknown>): { outcome: string; ref: string | undefined } {
  const type = String(frame['type']);
  if (type === 'error') return { outcome: String(frame['code']), ref: typeof frame['ref'] === 'string' ? frame['ref'] : undefined };
  if (type === 'ack' || type === 'topic_ack') return { outcome: type, ref: frame['id'] as string };
  return { outcome: type, ref: typeof frame['req_id'] === 'string' ? frame['req_id'] : undefined };
}

/**
 * Invariants of every server frame (§5.3): its schema, and for `error` a code from the frozen table.
 * Returns a description of the violation, or null.
 */
export function checkServerFrame(frame: unknown): string | null {
  if (typeof frame !== 'object' || frame === null) return 'server frame is not an object';
  const f = frame as Record<string, unknown>;
  const type = f['type'];
  if (typeof type !== 'string' || !Object.hasOwn(SERVER_FRAME_SCHEMAS, type)) return `unknown server frame type ${JSON.stringify(type)}`;
  if (type === 'error') {
    if (!isErrorCode(f['code'])) return `error code ${JSON.stringify(f['code'])} is not in the frozen table`;
    if (typeof f['message'] !== 'string') return 'error frame without a string message';
    // §5.3: a rate refusal says how long to wait, and only a rate refusal does.
    const retryAfter = f['retry_after_ms'];
    if (f['code'] === 'E_RATE_LIMITED' && !(Number.isSafeInteger(retryAfter) && (retryAfter as number) > 0)) return 'E_RATE_LIMITED without a positive integer retry_after_ms';
    if (f['code'] !== 'E_RATE_LIMITED' && retryAfter !== undefined) return `retry_after_ms on ${String(f['code'])}`;
  }
  const parsed = SERVER_FRAME_SCHEMAS[type as keyof typeof SERVER_FRAME_SCHEMAS].safeParse(f);
  if (!parsed.success) return `${type} frame does not match its schema: ${parsed.error.issues[0]?.message ?? ''}`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// REST

export interface RestExpectation {
  /** Codes allowed for an error answer; absent: any table code. */
  codes?: readonly ErrorCode[];
  /** Success statuses allowed (e.g. 200, 201); absent: success is a violation. */
  success?: readonly number[];
  /** Other statuses that are fine as they are (a readiness probe's 503 under load). */
  status?: readonly number[];
}

export interface RestAnswer {
  status: number;
  contentType: string;
  body: string;
  method: string;
}

/** Checks one REST answer (§8): JSON `{ error: { code, message } }`, code from the table, status per §10, never 5xx. */
export function checkRestResponse(answer: RestAnswer, expect: RestExpectation): string | null {
  const { status } = answer;
  if (expect.status?.includes(status)) return null;
  if (status >= 500) return `HTTP ${status}: ${answer.body.slice(0, 200)}`;
  if (status < 400) {
    if (!expect.success?.includes(status)) return `unexpected success HTTP ${status}; expected ${expect.codes?.join('|') ?? 'an error'}: ${answer.body.slice(0, 200)}`;
    return null;
  }
  if (answer.method === 'HEAD') return expect.codes && ![...expect.codes].some((c) => ERROR_CODES[c].http === status) ? `HEAD answered HTTP ${status}` : null;
  if (!/^application\/json\b/.test(answer.contentType)) return `error answer with content-type ${JSON.stringify(answer.contentType)}: ${answer.body.slice(0, 120)}`;
  let json: unknown;
  try {
    json = JSON.parse(answer.body);
  } catch {
    return `error answer is not JSON: ${answer.body.slice(0, 120)}`;
  }
  const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (typeof error !== 'object' || error === null) return `error answer is not { error: { code, message } }: ${answer.body.slice(0, 160)}`;
  if (!isErrorCode(error.code)) return `error code ${JSON.stringify(error.code)} is not in the frozen table: ${answer.body.slice(0, 160)}`;
  if (typeof error.message !== 'string') return 'error answer without a string message';
  if (ERROR_CODES[error.code].http !== status) return `${error.code} answered with HTTP ${status}, the table says ${ERROR_CODES[error.code].http}`;
  if (expect.codes && !expect.codes.includes(error.code)) return `expected ${expect.codes.join('|')}, got ${error.code}: ${error.message}`;
  return null;
}
