/**
 * REST fuzzing (docs/protocol.md §8): generated requests for every route (bodies mutated like frames,
 * garbage auth headers, bad path parameters, odd content types), properly signed requests for the
 * paths past authentication, and raw HTTP garbage (unknown methods, bytes the parser refuses).
 *
 * Each case carries the answer the protocol requires: `restModel` follows §8's verification order
 * (body parsing → path parameters → Authorization → body schema → membership and role → route checks).
 */
import fc from 'fast-check';
import http from 'node:http';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  CreateMeshBody,
  InviteResponse,
  JoinBody,
  JoinResponse,
  LIMITS,
  MembersResponse,
  MeshName,
  MeshResponse,
  PubkeyHex,
  ShortInviteBody,
  ShortInviteClaimBody,
  ShortInviteClaimResponse,
  ShortInviteResolveBody,
  ShortInviteResolveResponse,
  SignedInviteBody,
  Uuid,
  formatSignedRequestAuth,
  type ErrorCode,
} from '@claudemesh/core';
import {
  createInvite,
  createShortInvite,
  deriveInviteLookup,
  generateInviteCode,
  isWellFormedString,
  joinString,
  meshCreateString,
  requestString,
  sha256Hex,
  shortInviteClaimString,
  sign,
  toB64u,
  type Identity,
  type SignedInvite,
} from '@claudemesh/crypto';
import type { Findings } from './findings.js';
import { NASTY_STRINGS, jsonJunk } from './frames.js';
import { nestedText, wireText } from './json-text.js';
import { checkRestResponse, type RestAnswer, type RestExpectation } from './oracle.js';

/** REST body limit (§1.2). */
export const MAX_BODY_BYTES = 1_048_576;
const MAX_PARAM_LENGTH = 100;

// ---------------------------------------------------------------------------------------------
// Case shapes

type Tamper = 'none' | 'sig' | 'stale' | 'future' | 'path' | 'body' | 'method' | 'pubkey';
type Signer = 'owner' | 'member' | 'stranger';

export type AuthSpec =
  | { kind: 'none' }
  /** A raw Authorization header; `{now}` becomes the current time, `{owner}` the owner's key. */
  | { kind: 'header'; value: string; verdict: 'malformed' | 'stale' | 'bad-signature' | 'lenient' }
  | { kind: 'bearer'; admin: boolean; value: string }
  | { kind: 'signed'; as: Signer; tamper: Tamper };

export type BodySpec = { kind: 'none' } | { kind: 'text'; text: string } | { kind: 'bytes'; bytes: Uint8Array } | { kind: 'oversize'; size: number };

export type RouteName =
  | 'create'
  | 'join'
  | 'members'
  | 'list-invites'
  | 'register'
  | 'revoke-member'
  | 'revoke-invite'
  | 'register-v2'
  | 'revoke-invite-v2'
  | 'resolve-v2'
  | 'claim-v2';

/** Path parameters as the handler sees them (decoded); `{mesh}` is the fuzzed mesh, `{owner}` its owner key. */
export interface RouteParams {
  meshId?: string;
  pubkey?: string;
  inviteId?: string;
}

export type Recipe =
  | { kind: 'create-mesh'; variant: 'valid' | 'stale' | 'bad-sig' | 'conflict' | 'idempotent' | 'no-admin'; name: string; displayName: string }
  | {
      kind: 'register-invite';
      variant: 'valid' | 'expired' | 'bad-invite-sig' | 'issuer-other' | 'other-mesh' | 'conflict' | 'idempotent' | 'by-member' | 'unknown-mesh';
      maxUses: number;
    }
  | {
      kind: 'join';
      variant: 'valid' | 'rejoin' | 'exhausted' | 'stale' | 'bad-sig' | 'invite-bad-sig' | 'invite-expired' | 'unknown-mesh' | 'name-taken' | 'revoked-invite' | 'member-issuer';
      displayName: string;
      peerType: 'ai' | 'human' | 'connector';
    }
  | {
      kind: 'short-invite';
      variant: 'valid' | 'rejoin' | 'exhausted' | 'revoked' | 'expired' | 'bad-record-sig' | 'bad-claim-sig' | 'not-found' | 'name-taken' | 'by-member';
      displayName: string;
      peerType: 'ai' | 'human' | 'connector';
    };

export interface RestCase {
  label: string;
  method: string;
  /** Request target; `{mesh}`, `{owner}`, `{member}` are substituted at run time. Ignored when `route` is set. */
  path: string;
  route?: RouteName;
  params?: RouteParams;
  query?: string;
  contentType: string | null;
  auth: AuthSpec;
  body: BodySpec;
  /** Raw HTTP request bytes (latin1), sent on a bare socket. */
  raw?: string;
  recipe?: Recipe;
  /** Fixed expectation; when absent, restModel decides. */
  expect?: RestExpectation;
}

// ---------------------------------------------------------------------------------------------
// The model: what §8 requires for a request

export function routePath(route: RouteName, p: RouteParams): { method: string; path: string } {
  const enc = (s: string | undefined): string => encodeURIComponent(wireText(s ?? ''));
  switch (route) {
    case 'create':
      return { method: 'POST', path: '/api/v1/meshes' };
    case 'join':
      return { method: 'POST', path: '/api/v1/join' };
    case 'members':
      return { method: 'GET', path: `/api/v1/meshes/${enc(p.meshId)}/members` };
    case 'list-invites':
      return { method: 'GET', path: `/api/v1/meshes/${enc(p.meshId)}/invites` };
    case 'register':
      return { method: 'POST', path: `/api/v1/meshes/${enc(p.meshId)}/invites` };
    case 'revoke-member':
      return { method: 'POST', path: `/api/v1/meshes/${enc(p.meshId)}/members/${enc(p.pubkey)}/revoke` };
    case 'revoke-invite':
      return { method: 'POST', path: `/api/v1/meshes/${enc(p.meshId)}/invites/${enc(p.inviteId)}/revoke` };
    case 'register-v2':
      return { method: 'POST', path: `/api/v1/meshes/${enc(p.meshId)}/invites/v2` };
    case 'revoke-invite-v2':
      return { method: 'POST', path: `/api/v1/meshes/${enc(p.meshId)}/invites/v2/${enc(p.inviteId)}/revoke` };
    case 'resolve-v2':
      return { method: 'POST', path: '/api/v1/invites/v2/resolve' };
    case 'claim-v2':
      return { method: 'POST', path: '/api/v1/invites/v2/claim' };
  }
}

type Parsed = { kind: 'none' } | { kind: 'value'; value: unknown } | { kind: 'parse-error' } | { kind: 'unsupported' } | { kind: 'too-large' } | { kind: 'loose'; value?: unknown };

/** Fastify's JSON parser refuses `__proto__` keys and `constructor.prototype` anywhere (iterative: bodies nest deep). */
function isPoisoned(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    for (const [k, v] of Object.entries(value)) {
      if (k === '__proto__') return true;
      if (k === 'constructor' && typeof v === 'object' && v !== null && Object.hasOwn(v, 'prototype')) return true;
      stack.push(v);
    }
  }
  return false;
}

function bodyBytes(body: BodySpec): number {
  switch (body.kind) {
    case 'none':
      return 0;
    case 'text':
      return Buffer.byteLength(body.text, 'utf8');
    case 'bytes':
      return body.bytes.byteLength;
    case 'oversize':
      return body.size;
  }
}

/** How the HTTP layer hands a body to the route (§8: JSON bodies; not JSON → E_SCHEMA; over 1 MiB → E_TOO_LARGE). */
function parseBody(contentType: string | null, body: BodySpec): Parsed {
  const size = bodyBytes(body);
  const ct = contentType?.toLowerCase().replace(/\s+/g, '') ?? null;
  const json = ct === 'application/json' || ct === 'application/json;charset=utf-8';
  if (size === 0) return ct === null ? { kind: 'none' } : json ? { kind: 'parse-error' } : { kind: 'loose' };
  if (ct === null) return { kind: 'unsupported' };
  if (!json) {
    // A JSON media type with other parameters may still reach the JSON parser.
    const asJson = ct.startsWith('application/json') ? parseBody(JSON_CT, body) : null;
    return asJson?.kind === 'value' ? { kind: 'loose', value: asJson.value } : { kind: 'loose' };
  }
  if (size > MAX_BODY_BYTES) return { kind: 'too-large' };
  if (body.kind === 'oversize' || body.kind === 'none') return { kind: 'parse-error' };
  const text = body.kind === 'text' ? body.text : Buffer.from(body.bytes).toString('utf8');
  try {
    // RFC 8259 §8.1: a parser may ignore a byte order mark.
    const value: unknown = JSON.parse(text.replace(/^\ufeff/, ''));
    return isPoisoned(value) ? { kind: 'parse-error' } : { kind: 'value', value };
  } catch {
    return { kind: 'parse-error' };
  }
}

function authOutcome(auth: AuthSpec): ErrorCode | null {
  switch (auth.kind) {
    case 'none':
    case 'bearer':
      return 'E_UNAUTHORIZED';
    case 'header':
      if (auth.verdict === 'lenient') return 'E_BAD_SIGNATURE';
      return auth.verdict === 'malformed' ? 'E_UNAUTHORIZED' : auth.verdict === 'stale' ? 'E_STALE_TIMESTAMP' : 'E_BAD_SIGNATURE';
    case 'signed':
      if (auth.tamper === 'none') return null;
      return auth.tamper === 'stale' || auth.tamper === 'future' ? 'E_STALE_TIMESTAMP' : 'E_BAD_SIGNATURE';
  }
}

/**
 * The answer for a non-recipe request to a known route. Bodies that are schema-valid carry
 * placeholder signatures, so the signature checks that follow the schema refuse them.
 */
export function restModel(c: RestCase, env: { meshId: string }): RestExpectation {
  if (!c.route) return {};
  const p = c.params ?? {};
  const parsed = parseBody(c.contentType, c.body);
  // The router refuses a (decoded) path parameter above its length limit: a bad path parameter.
  const paramTooLong = [p.meshId, p.pubkey, p.inviteId].some((v) => v !== undefined && wireText(v).length > MAX_PARAM_LENGTH);
  if (paramTooLong) return { codes: ['E_SCHEMA'] };
  const isGet = c.route === 'members' || c.route === 'list-invites';
  if (!isGet) {
    if (parsed.kind === 'too-large') return { codes: ['E_TOO_LARGE'] };
    if (parsed.kind === 'parse-error' || parsed.kind === 'unsupported') return { codes: ['E_SCHEMA'] };
  }
  const handler = handlerModel(c, env, parsed.kind === 'value' ? parsed.value : undefined);
  // A body in another content type than JSON is outside §8.1's contract: refused as not JSON, or handed
  // over without its raw bytes (so a signature over it cannot verify), or ignored by routes without a body.
  if (!isGet && parsed.kind === 'loose') {
    const asJson = parsed.value !== undefined ? handlerModel(c, env, parsed.value) : {};
    const codes = new Set<ErrorCode>(['E_SCHEMA', 'E_TOO_LARGE', 'E_BAD_SIGNATURE', ...(handler.codes ?? []), ...(asJson.codes ?? [])]);
    const success = [...(handler.success ?? []), ...(asJson.success ?? [])];
    return { codes: [...codes], ...(success.length > 0 ? { success } : {}) };
  }
  return handler;
}

function handlerModel(c: RestCase, env: { meshId: string }, body: unknown): RestExpectation {
  const p = c.params ?? {};
  const only = (code: ErrorCode): RestExpectation => ({ codes: [code] });
  switch (c.route) {
    case 'create':
      if (c.auth.kind !== 'bearer' || !c.auth.admin) return only('E_UNAUTHORIZED');
      return only(CreateMeshBody.safeParse(body).success ? 'E_BAD_SIGNATURE' : 'E_SCHEMA');
    case 'join':
      return only(JoinBody.safeParse(body).success ? 'E_BAD_SIGNATURE' : 'E_SCHEMA');
    // Invites v2 (§9b): no credentials but the lookup. Placeholder claims carry junk signatures,
    // placeholder lookups match no invite.
    case 'claim-v2':
      return only(ShortInviteClaimBody.safeParse(body).success ? 'E_BAD_SIGNATURE' : 'E_SCHEMA');
    case 'resolve-v2':
      return only(ShortInviteResolveBody.safeParse(body).success ? 'E_INVITE_NOT_FOUND' : 'E_SCHEMA');
    default:
      break;
  }
  const meshId = p.meshId === '{mesh}' ? env.meshId : (p.meshId ?? '');
  if (!Uuid.safeParse(meshId).success) return only('E_SCHEMA');
  const auth = authOutcome(c.auth);
  // Extra spaces around the pairs: a strict parser refuses the header, a lenient one trims them.
  if (c.auth.kind === 'header' && c.auth.verdict === 'lenient') return { codes: ['E_UNAUTHORIZED', 'E_BAD_SIGNATURE'] };
  if (auth) return only(auth);
  const signer = c.auth.kind === 'signed' ? c.auth.as : 'stranger';
  const known = meshId === env.meshId;
  const membership = (roles: Signer[]): ErrorCode | null => {
    if (!known) return 'E_UNKNOWN_MESH';
    if (signer === 'stranger') return 'E_NOT_MEMBER';
    return roles.includes(signer) ? null : 'E_FORBIDDEN';
  };
  switch (c.route) {
    case 'members':
      return membership(['owner', 'member']) === null ? { success: [200] } : only(membership(['owner', 'member'])!);
    case 'list-invites':
      return membership(['owner']) === null ? { success: [200] } : only(membership(['owner'])!);
    case 'register': {
      const parsed = SignedInviteBody.safeParse(body);
      if (!parsed.success || parsed.data.payload.mesh_id !== meshId) return only('E_SCHEMA');
      const m = membership(['owner']);
      if (m) return only(m);
      // Placeholder invites are issued by a random key and signed with junk.
      return only('E_FORBIDDEN');
    }
    case 'revoke-member': {
      const pubkey = p.pubkey === '{owner}' ? 'owner' : (p.pubkey ?? '');
      if (pubkey !== 'owner' && !PubkeyHex.safeParse(pubkey).success) return only('E_SCHEMA');
      const m = membership(['owner']);
      if (m) return only(m);
      return only(pubkey === 'owner' ? 'E_FORBIDDEN' : 'E_NOT_FOUND');
    }
    case 'revoke-invite':
    case 'revoke-invite-v2': {
      if (!/^[A-Za-z0-9_-]{8,64}$/.test(p.inviteId ?? '')) return only('E_SCHEMA');
      const m = membership(['owner']);
      return only(m ?? 'E_NOT_FOUND');
    }
    case 'register-v2': {
      const parsed = ShortInviteBody.safeParse(body);
      if (!parsed.success || parsed.data.mesh_id !== meshId) return only('E_SCHEMA');
      const m = membership(['owner']);
      if (m) return only(m);
      // Placeholder records name a random issuer: only the issuer registers its invite.
      return only('E_FORBIDDEN');
    }
    default:
      return {};
  }
}

// ---------------------------------------------------------------------------------------------
// JSON body mutation (nested objects, raw keys, duplicated keys)

type JNode = { t: 'raw'; text: string } | { t: 'obj'; entries: Array<[string, JNode]> };

function toNode(value: unknown): JNode {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { t: 'obj', entries: Object.entries(value).map(([k, v]) => [k, toNode(v)]) };
  return { t: 'raw', text: JSON.stringify(value) };
}

function nodeText(n: JNode): string {
  return n.t === 'raw' ? n.text : `{${n.entries.map(([k, v]) => `${JSON.stringify(k)}:${nodeText(v)}`).join(',')}}`;
}

function objectPaths(n: JNode, prefix: string[] = []): string[][] {
  if (n.t !== 'obj') return [];
  return [prefix, ...n.entries.flatMap(([k, v]) => objectPaths(v, [...prefix, k]))];
}

function at(n: JNode, path: string[]): JNode {
  let cur = n;
  for (const key of path) {
    if (cur.t !== 'obj') return cur;
    cur = cur.entries.find(([k]) => k === key)?.[1] ?? cur;
  }
  return cur;
}

function clone(n: JNode): JNode {
  return n.t === 'raw' ? { ...n } : { t: 'obj', entries: n.entries.map(([k, v]) => [k, clone(v)]) };
}

const JUNK_VALUE_TEXT = (): fc.Arbitrary<string> =>
  fc.oneof(
    jsonJunk().map((v) => JSON.stringify(v)),
    fc.constantFrom(...NASTY_STRINGS).map((s) => JSON.stringify(s)),
    fc.constantFrom(
      '-1',
      '0',
      '1.5',
      '1e400',
      '8640000000000001',
      '9007199254740993',
      '"x"',
      '""',
      'null',
      '[]',
      '{}',
      JSON.stringify('a'.repeat(101)),
      JSON.stringify('A'.repeat(64)),
    ),
    fc.integer({ min: 1, max: 300 }).map((d) => nestedText(d, 'array')),
  );

/** Raw JSON text of a mutated body, and a label. */
export function mutatedBody(template: Record<string, unknown>): fc.Arbitrary<{ text: string; label: string }> {
  const root = toNode(template);
  const paths = objectPaths(root);
  const op = fc.constantFrom('drop', 'add', 'rename', 'replace', 'duplicate', 'truncate', 'non-object', 'bom');
  return fc
    .tuple(op, fc.constantFrom(...paths), fc.oneof(fc.constantFrom('__proto__', 'constructor', 'extra', '', 'k'), fc.string({ maxLength: 8 })), JUNK_VALUE_TEXT(), fc.nat())
    .map(([kind, path, key, junk, n]) => {
      const tree = clone(root);
      const target = at(tree, path);
      if (target.t !== 'obj') return { text: nodeText(tree), label: 'unchanged' };
      const i = target.entries.length > 0 ? n % target.entries.length : 0;
      const where = path.join('.') || '(root)';
      switch (kind) {
        case 'drop':
          target.entries.splice(i, 1);
          return { text: nodeText(tree), label: `drop:${where}.${i}` };
        case 'add':
          target.entries.push([wireText(key), key === 'constructor' ? { t: 'raw', text: '{"prototype":{"x":1}}' } : { t: 'raw', text: junk }]);
          return { text: nodeText(tree), label: `add:${where}.${JSON.stringify(key).slice(0, 12)}` };
        case 'rename': {
          const entry = target.entries[i];
          if (entry) entry[0] = `${entry[0].toUpperCase()}_`;
          return { text: nodeText(tree), label: `rename:${where}` };
        }
        case 'replace': {
          const entry = target.entries[i];
          if (entry) entry[1] = { t: 'raw', text: junk };
          return { text: nodeText(tree), label: `replace:${where}.${entry?.[0] ?? ''}` };
        }
        case 'duplicate': {
          const entry = target.entries[i];
          if (entry) target.entries.splice(n % 2 === 0 ? i : target.entries.length, 0, [entry[0], { t: 'raw', text: junk }]);
          return { text: nodeText(tree), label: `duplicate:${where}.${entry?.[0] ?? ''}` };
        }
        case 'truncate': {
          const full = nodeText(tree);
          return { text: wireText(full.slice(0, n % full.length)), label: 'truncate' };
        }
        case 'non-object':
          return { text: junk, label: 'non-object' };
        default:
          return { text: `\ufeff${nodeText(tree)}`, label: 'bom' };
      }
    });
}

// ---------------------------------------------------------------------------------------------
// Templates (fixture-shaped placeholders: schema-valid, signatures that do not verify)

const SIG = 'S'.repeat(86);
/** The REST lane's short invites wrap this key; the fuzzer never opens group traffic. */
const FUZZ_MESH_KEY = new Uint8Array(32).fill(0x5a);
const HEX = (c: string): string => c.repeat(64);

function invitePayload(meshId: string): Record<string, unknown> {
  return {
    v: 1,
    mesh_id: meshId,
    mesh_name: 'platform team',
    broker_url: 'http://127.0.0.1:7900',
    invite_id: 'aW52aXRlLWlkLTAx',
    role: 'member',
    issuer: HEX('a'),
    created_at: 1767139200000,
    expires_at: 1767744000000,
    max_uses: 10,
  };
}

export function templates(meshId: string): Record<'create' | 'join' | 'register' | 'register-v2' | 'resolve-v2' | 'claim-v2', Record<string, unknown>> {
  return {
    create: {
      mesh_id: '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b',
      name: 'platform team',
      owner_pubkey: HEX('a'),
      display_name: 'owner',
      peer_type: 'human',
      ts: 1767139200000,
      sig: SIG,
    },
    join: { invite: { payload: invitePayload(meshId), sig: SIG }, member_pubkey: HEX('d'), display_name: 'dave', peer_type: 'ai', ts: 1767139200000, sig: SIG },
    register: { payload: invitePayload(meshId), sig: SIG },
    'register-v2': {
      mesh_id: meshId,
      invite_id: 'aW52aXRlLWlkLTAy',
      lookup: 'L'.repeat(43),
      wrapped_mesh_key: 'W'.repeat(298),
      role: 'member',
      max_uses: 10,
      expires_at: 1767744000000,
      issuer: HEX('a'),
      sig: SIG,
    },
    'resolve-v2': { lookup: 'L'.repeat(43) },
    'claim-v2': { lookup: 'L'.repeat(43), member_pubkey: HEX('d'), x25519_pubkey: 'X'.repeat(43), display_name: 'dave', peer_type: 'ai', ts: 1767139200000, sig: SIG },
  };
}

// ---------------------------------------------------------------------------------------------
// Generators

const JSON_CT = 'application/json';
const CONTENT_TYPES = [
  JSON_CT,
  'application/json; charset=utf-8',
  'Application/JSON',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/octet-stream',
  'text/json',
  '*/*',
  'application/jsonx',
  '',
];

/** Authorization headers that are not a valid `Claudemesh-Sig` (§8.1), or are valid in form only. */
function garbageHeader(): fc.Arbitrary<Extract<AuthSpec, { kind: 'header' }>> {
  const pk = HEX('a');
  const sig = 'A'.repeat(86);
  const malformed = [
    '',
    'Claudemesh-Sig',
    'Claudemesh-Sig ',
    'claudemesh-sig pubkey={owner},ts={now},sig=' + sig,
    `Claudemesh-Sig pubkey=${pk.toUpperCase()},ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk.slice(1)},ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts={now}`,
    `Claudemesh-Sig pubkey=${pk},sig=${sig}`,
    `Claudemesh-Sig ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=abc,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=-5,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=1.5,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts={now},sig=${sig.slice(1)}`,
    `Claudemesh-Sig pubkey=${pk},ts={now},sig=${sig.slice(2)}==`,
    `Claudemesh-Sig pubkey=${pk};ts={now};sig=${sig}`,
    `Bearer ${sig}`,
    `Basic dXNlcjpwYXNz`,
    `Claudemesh-Sig pubkey=${pk},ts=9007199254740993,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=0x10,sig=${sig}`,
    `Claudemesh-Sig pubkey=${pk},ts=1e3,sig=${sig}`,
  ];
  const stale = [`Claudemesh-Sig pubkey=${pk},ts=0,sig=${sig}`, `Claudemesh-Sig pubkey=${pk},ts=1,sig=${sig}`, `Claudemesh-Sig pubkey=${pk},ts=8640000000000000,sig=${sig}`];
  const badSig = [`Claudemesh-Sig pubkey=${pk},ts={now},sig=${sig}`, `Claudemesh-Sig pubkey={owner},ts={now},sig=${sig}`, `Claudemesh-Sig sig=${sig},ts={now},pubkey={owner}`];
  const lenient = [
    `Claudemesh-Sig  pubkey={owner},ts={now},sig=${sig}`,
    `Claudemesh-Sig pubkey={owner}, ts={now}, sig=${sig}`,
    `Claudemesh-Sig pubkey={owner},ts={now},sig=${sig},`,
  ];
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...malformed).map((value) => ({ kind: 'header' as const, value, verdict: 'malformed' as const })) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((value) => ({ kind: 'header' as const, value: value.trim(), verdict: 'malformed' as const })),
    },
    { weight: 1, arbitrary: fc.constantFrom(...stale).map((value) => ({ kind: 'header' as const, value, verdict: 'stale' as const })) },
    { weight: 2, arbitrary: fc.constantFrom(...badSig).map((value) => ({ kind: 'header' as const, value, verdict: 'bad-signature' as const })) },
    { weight: 1, arbitrary: fc.constantFrom(...lenient).map((value) => ({ kind: 'header' as const, value, verdict: 'lenient' as const })) },
  );
}

function authArb(weights: { signed: number }): fc.Arbitrary<AuthSpec> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<AuthSpec>({ kind: 'none' }) },
    { weight: 4, arbitrary: garbageHeader() },
    // (Trailing spaces are not garbage: HTTP strips them from header values.)
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('Bearer ', 'Bearer x', 'bearer {admin}', 'Bearer  {admin}', 'Bearer {admin}x', 'Basic {admin}')
        .map((value): AuthSpec => ({ kind: 'bearer', admin: false, value })),
    },
    {
      weight: weights.signed,
      arbitrary: fc
        .record({
          as: fc.constantFrom<Signer>('owner', 'member', 'stranger'),
          tamper: fc.constantFrom<Tamper>('none', 'none', 'none', 'sig', 'stale', 'future', 'path', 'body', 'method', 'pubkey'),
        })
        .map((s): AuthSpec => ({ kind: 'signed', ...s })),
    },
  );
}

const paramJunk = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(
      'x',
      '..',
      '.',
      '%',
      '%2F',
      'a/b',
      ' ',
      'null',
      'undefined',
      '__proto__',
      'constructor',
      '0',
      '-1',
      'a'.repeat(101),
      'A'.repeat(64),
      'a'.repeat(63),
      '\u0000',
      '🚀',
      'é',
    ),
    fc.uuid().map((u) => u.toUpperCase()),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
  );

function bodyArb(template: Record<string, unknown> | null): fc.Arbitrary<{ body: BodySpec; label: string }> {
  const options: Array<fc.WeightedArbitrary<{ body: BodySpec; label: string }>> = [
    { weight: 1, arbitrary: fc.constant({ body: { kind: 'none' } as BodySpec, label: 'no-body' }) },
    { weight: 1, arbitrary: jsonJunk().map((v) => ({ body: { kind: 'text', text: JSON.stringify(v) } as BodySpec, label: 'json-junk' })) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }).map((t) => ({ body: { kind: 'text', text: wireText(t) } as BodySpec, label: 'text-junk' })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ body: { kind: 'bytes', bytes } as BodySpec, label: 'bytes' })) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 20_000 }).map((d) => ({ body: { kind: 'text', text: nestedText(d, d % 2 ? 'array' : 'object') } as BodySpec, label: 'deep' })),
    },
  ];
  if (template) {
    options.push({
      weight: 8,
      arbitrary: mutatedBody(template).map(({ text, label }) => ({ body: { kind: 'text', text } as BodySpec, label: `mutated-${label.replace(/[:.].*$/, '')}` })),
    });
    options.push({ weight: 2, arbitrary: fc.constant({ body: { kind: 'text', text: JSON.stringify(template) } as BodySpec, label: 'placeholder' }) });
  }
  return fc.oneof(...options);
}

const contentTypeArb = (): fc.Arbitrary<string | null> =>
  fc.oneof({ weight: 8, arbitrary: fc.constant(JSON_CT) }, { weight: 2, arbitrary: fc.constantFrom<string | null>(null, ...CONTENT_TYPES) });

const ROUTES: RouteName[] = [
  'create',
  'join',
  'members',
  'list-invites',
  'register',
  'revoke-member',
  'revoke-invite',
  'register-v2',
  'revoke-invite-v2',
  'resolve-v2',
  'claim-v2',
];
/** Routes that carry no Authorization: the body is the credential (§8.2, §9b). */
const UNSIGNED_ROUTES: RouteName[] = ['join', 'resolve-v2', 'claim-v2'];

/** A request to a known route with generated auth, parameters and body. */
function routeCase(meshId: string): fc.Arbitrary<RestCase> {
  const t = templates(meshId);
  // One arbitrary per route, built once (building fast-check string arbitraries is the costly part).
  const perRoute = new Map(ROUTES.map((r) => [r, oneRoute(r, t)]));
  return fc.constantFrom(...ROUTES).chain((r) => perRoute.get(r)!);
}

function oneRoute(r: RouteName, t: ReturnType<typeof templates>): fc.Arbitrary<RestCase> {
  {
    const template = r === 'create' || r === 'join' || r === 'register' || r === 'register-v2' || r === 'resolve-v2' || r === 'claim-v2' ? t[r] : null;
    const meshParam = fc.oneof({ weight: 6, arbitrary: fc.constant('{mesh}') }, { weight: 1, arbitrary: fc.uuid() }, { weight: 2, arbitrary: paramJunk() });
    const pubkeyParam = fc.oneof(fc.constant('{owner}'), chars64(), paramJunk());
    const inviteParam = fc.oneof(fc.constantFrom('aW52aXRlLWlkLTAx', 'unknown-invite-01'), paramJunk());
    const auth: fc.Arbitrary<AuthSpec> =
      r === 'create'
        ? fc.oneof({ weight: 3, arbitrary: fc.constant<AuthSpec>({ kind: 'bearer', admin: true, value: '' }) }, { weight: 1, arbitrary: authArb({ signed: 0 }) })
        : UNSIGNED_ROUTES.includes(r)
          ? fc.oneof(fc.constant<AuthSpec>({ kind: 'none' }), authArb({ signed: 1 }))
          : authArb({ signed: 6 });
    const isPost = r !== 'members' && r !== 'list-invites';
    const body = isPost ? bodyArb(template) : fc.constant({ body: { kind: 'none' } as BodySpec, label: 'no-body' });
    const query = fc.oneof(
      { weight: 6, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.constantFrom('?', '?x=1', '?a=%ZZ', '?__proto__[x]=1', '?&&&', `?${'q'.repeat(500)}`) },
    );
    return fc
      .record({ meshId: meshParam, pubkey: pubkeyParam, inviteId: inviteParam, auth, body, query, ct: isPost ? contentTypeArb() : fc.constant(null) })
      .map(({ meshId: m, pubkey, inviteId, auth: a, body: b, query: q, ct }): RestCase => {
        const params: RouteParams =
          r === 'create' || UNSIGNED_ROUTES.includes(r)
            ? {}
            : { meshId: m, ...(r === 'revoke-member' ? { pubkey } : {}), ...(r === 'revoke-invite' || r === 'revoke-invite-v2' ? { inviteId } : {}) };
        const { method, path } = routePath(r, params);
        return {
          label: `rest/${r}:${a.kind}${a.kind === 'signed' ? `-${a.as}-${a.tamper}` : ''}/${b.label}`,
          method,
          path,
          route: r,
          params,
          query: q,
          contentType: b.body.kind === 'none' && isPost && ct === JSON_CT ? null : ct,
          auth: a,
          body: b.body,
        };
      });
  }
}

const chars64 = (): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });

/** Paths, methods, content types and raw requests that match no route or break HTTP itself. */
function garbageCase(): fc.Arbitrary<RestCase> {
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'SEARCH', 'LOCK', 'MKCOL'];
  const paths = fc.oneof(
    fc.constantFrom(
      '/',
      '/api',
      '/api/v1',
      '/api/v1/',
      '/api/v1/meshes/',
      '/api/v2/join',
      '//api/v1/join',
      '/api/v1/join/',
      '/API/V1/JOIN',
      '/api/v1/../../healthz',
      '/api/v1/meshes/{mesh}',
      '/api/v1/meshes/{mesh}/members/',
      '/api/v1/meshes/{mesh}/members/{owner}',
      '/api/v1/meshes/%ZZ/members',
      '/api/v1/meshes/%F0%9F/members',
      '/api/v1/meshes/%00/members',
      '/api/v1/meshes/{mesh}/invites/%E0%A4%A/revoke',
      '/ws',
      '/ws/x',
      '/healthz/',
      '/healthz?x',
      '/readyz?%ZZ',
      '/join?x=1',
      '/join#frag',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/api/v1/meshes/{mesh}/members?__proto__[polluted]=1',
      '/\u00ff\u00fe',
      `/${'a'.repeat(4000)}`,
      '/api/v1/meshes/' + 'x'.repeat(150) + '/members',
    ),
    fc.webPath().map((p) => p || '/'),
    fc.webUrl({ withQueryParameters: true, withFragments: true }).map((u) => new URL(u).pathname + new URL(u).search),
  );
  const raws = fc.constantFrom(
    'FOO /api/v1/join HTTP/1.1\r\nHost: x\r\n\r\n',
    'get /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /\u00ff\u00fe HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n',
    'POST /api/v1/join HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
    'POST /api/v1/join HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}',
    'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\u0000b\r\n\r\n',
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    'GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003\r\n\r\n',
    'GET /healthz\r\n\r\n',
  );
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ method: fc.constantFrom(...methods), path: paths, ct: fc.constantFrom<string | null>(null, ...CONTENT_TYPES), body: bodyArb(null), auth: authArb({ signed: 0 }) })
        // HEAD cannot carry a path the HTTP parser refuses: the error answer's body would look like a second response.
        .map(({ method: m, path, ct, body, auth }) => ({ method: m === 'HEAD' && /[^\x21-\x7e]/.test(path) ? 'GET' : m, path, ct, body, auth }))
        .map(({ method, path, ct, body, auth }): RestCase => ({
          label: `rest/garbage:${method}`,
          method,
          path,
          contentType: method === 'GET' || method === 'HEAD' ? null : ct,
          auth,
          body: method === 'GET' || method === 'HEAD' ? { kind: 'none' } : body.body,
          // Any path may happen to be a public GET route.
          expect: method === 'GET' || method === 'HEAD' ? publicGetExpectation(path) : {},
        })),
    },
    // A lenient HTTP parser may accept some of these as GET /healthz.
    {
      weight: 1,
      arbitrary: raws.map((raw): RestCase => ({
        label: 'rest/raw-http',
        method: 'RAW',
        path: '',
        contentType: null,
        auth: { kind: 'none' },
        body: { kind: 'none' },
        raw,
        expect: { success: [200] },
      })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom('/healthz', '/readyz', '/join', '/i/ABCD-EFGH-JKMN-PQRS').chain((path) =>
        fc.constantFrom('GET', 'HEAD').map((method): RestCase => ({
          label: `rest/health:${method} ${path}`,
          method,
          path,
          contentType: null,
          auth: { kind: 'none' },
          body: { kind: 'none' },
          // §8.2: /readyz answers 503 when the database does not answer within 2 s, as under this load.
          expect: path === '/readyz' ? { success: [200], status: [503] } : { success: [200] },
        })),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<RouteName>('join', 'create', 'register', 'register-v2', 'claim-v2').chain((r) =>
        fc.integer({ min: 1, max: 300_000 }).map((extra): RestCase => {
          const { method, path } = routePath(r, { meshId: '{mesh}' });
          return {
            label: `rest/oversize:${r}`,
            method,
            path,
            route: r,
            params: { meshId: '{mesh}' },
            contentType: JSON_CT,
            auth: r === 'create' ? { kind: 'bearer', admin: true, value: '' } : { kind: 'none' },
            body: { kind: 'oversize', size: MAX_BODY_BYTES + extra },
          };
        }),
      ),
    },
  );
}

/**
 * GET/HEAD on a public page answers 200. `/i/<anything>` is the short-link landing page (§9b): served
 * for any segment, refused only by the router (a bad percent-encoding or an over-long parameter).
 */
function publicGetExpectation(path: string): RestExpectation {
  if (/^\/(healthz|readyz|join)([?#]|$)/.test(path)) return { success: [200] };
  if (/^\/i\/[^/?#]+([?#]|$)/.test(path)) return { success: [200], codes: ['E_SCHEMA'] };
  return {};
}

const nameArb = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
    fc.constantFrom(...NASTY_STRINGS).map((s) => `mesh ${s} name`),
    fc.constantFrom('m'.repeat(100), 'm'.repeat(101), '😀'.repeat(50), '😀'.repeat(51), 'a\rb', 'a\nb', '\u0000', 'x\ud800y', 'team alpha'),
  );
const displayNameArb = (): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.constantFrom(...'abcdefghijklmnopqrstuvwxyABCDEFGHIJKLMNOPQRSTUVWXY0123456789'),
      fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789._-'), maxLength: 30 }),
    )
    .map(([a, b]) => a + b);

/** Requests that pass authentication (real signatures), for the checks behind it. */
function recipeCase(): fc.Arbitrary<RestCase> {
  const create = fc
    .record({
      variant: fc.constantFrom('valid', 'valid', 'valid', 'stale', 'bad-sig', 'conflict', 'idempotent', 'no-admin' as const),
      name: nameArb(),
      displayName: displayNameArb(),
    })
    .map((r): Recipe => ({ kind: 'create-mesh', ...r }) as Recipe);
  const register = fc
    .record({
      variant: fc.constantFrom('valid', 'valid', 'expired', 'bad-invite-sig', 'issuer-other', 'other-mesh', 'conflict', 'idempotent', 'by-member', 'unknown-mesh' as const),
      maxUses: fc.oneof(fc.constantFrom(1, 1_000_000), fc.integer({ min: 1, max: 100 })),
    })
    .map((r): Recipe => ({ kind: 'register-invite', ...r }) as Recipe);
  const join = fc
    .record({
      variant: fc.constantFrom(
        'valid',
        'rejoin',
        'exhausted',
        'stale',
        'bad-sig',
        'invite-bad-sig',
        'invite-expired',
        'unknown-mesh',
        'name-taken',
        'revoked-invite',
        'member-issuer' as const,
      ),
      displayName: displayNameArb(),
      peerType: fc.constantFrom('ai', 'human', 'connector' as const),
    })
    .map((r): Recipe => ({ kind: 'join', ...r }) as Recipe);
  const shortInvite = fc
    .record({
      variant: fc.constantFrom(
        'valid',
        'valid',
        'rejoin',
        'exhausted',
        'revoked',
        'expired',
        'bad-record-sig',
        'bad-claim-sig',
        'not-found',
        'name-taken',
        'by-member' as const,
      ),
      displayName: displayNameArb(),
      peerType: fc.constantFrom('ai', 'human', 'connector' as const),
    })
    .map((r): Recipe => ({ kind: 'short-invite', ...r }) as Recipe);
  return fc.oneof(create, register, join, shortInvite).map((recipe): RestCase => ({
    label: `rest/recipe:${recipe.kind}:${recipe.variant}`,
    method: 'POST',
    path: '',
    contentType: JSON_CT,
    auth: { kind: 'none' },
    body: { kind: 'none' },
    recipe,
  }));
}

export interface RestMix {
  route: number;
  garbage: number;
  recipe: number;
}

export const DEFAULT_REST_MIX: RestMix = { route: 12, garbage: 5, recipe: 3 };

export function restCase(meshId: string, mix: RestMix = DEFAULT_REST_MIX): fc.Arbitrary<RestCase> {
  return fc.oneof({ weight: mix.route, arbitrary: routeCase(meshId) }, { weight: mix.garbage, arbitrary: garbageCase() }, { weight: mix.recipe, arbitrary: recipeCase() });
}

// ---------------------------------------------------------------------------------------------
// Runner

export interface RestEnv {
  baseUrl: string;
  adminToken: string;
  /** The mesh the REST fuzzer owns (separate from the WebSocket lanes' mesh). */
  meshId: string;
  meshName: string;
  owner: Identity;
  /** A plain member of that mesh. */
  member: Identity;
  /** Fresh deterministic identities. */
  identity: (label: string) => Identity;
  findings: Findings;
  timeoutMs: number;
  /** The create body of the REST mesh, to replay it (idempotent create). */
  createBody: Record<string, unknown>;
}

interface Prepared {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

const sub = (s: string, env: RestEnv): string => s.replaceAll('{mesh}', env.meshId).replaceAll('{owner}', env.owner.publicKey).replaceAll('{member}', env.member.publicKey);

function bodyBuffer(body: BodySpec): Buffer | null {
  switch (body.kind) {
    case 'none':
      return null;
    case 'text':
      return Buffer.from(body.text, 'utf8');
    case 'bytes':
      return Buffer.from(body.bytes);
    case 'oversize':
      return Buffer.alloc(body.size, 0x20);
  }
}

function signer(env: RestEnv, as: Signer): Identity {
  return as === 'owner' ? env.owner : as === 'member' ? env.member : env.identity('stranger');
}

function authorization(env: RestEnv, auth: AuthSpec, method: string, path: string, body: Buffer | null): string | null {
  switch (auth.kind) {
    case 'none':
      return null;
    case 'bearer':
      return auth.admin ? `Bearer ${env.adminToken}` : auth.value.replace('{admin}', env.adminToken);
    case 'header':
      return auth.value.replaceAll('{now}', String(Date.now())).replaceAll('{owner}', env.owner.publicKey);
    case 'signed': {
      const id = signer(env, auth.as);
      const meshId = /^\/api\/v1\/meshes\/([^/?]+)/.exec(path)?.[1] ?? '';
      const t = auth.tamper;
      const ts = Date.now() + (t === 'stale' ? -(LIMITS.requestSkewMs + 60_000) : t === 'future' ? LIMITS.requestSkewMs + 60_000 : 0);
      const raw = body ?? Buffer.alloc(0);
      const signed = requestString({
        method: t === 'method' ? (method === 'GET' ? 'POST' : 'GET') : method,
        path: t === 'path' ? `${path}?tampered` : path,
        meshId: safeDecode(meshId),
        ts,
        bodySha256Hex: sha256Hex(t === 'body' ? Buffer.concat([raw, Buffer.from(' ')]) : new Uint8Array(raw)),
      });
      let sig = sign(signed, id.secretKey);
      if (t === 'sig') sig = sign(`${signed}x`, id.secretKey);
      return formatSignedRequestAuth({ pubkey: t === 'pubkey' ? env.identity('other-key').publicKey : id.publicKey, ts, sig });
    }
  }
}

function safeDecode(s: string): string {
  try {
    const d = decodeURIComponent(s);
    return isWellFormedString(d) && !/[\r\n]/.test(d) ? d : s;
  } catch {
    return s;
  }
}

function prepare(env: RestEnv, c: RestCase): Prepared {
  const params = Object.fromEntries(Object.entries(c.params ?? {}).map(([k, v]) => [k, sub(v, env)])) as RouteParams;
  const base = c.route ? routePath(c.route, params) : { method: c.method, path: c.path };
  const path = sub(base.path, env) + (c.query ?? '');
  const body = bodyBuffer(c.body);
  // Always framed: Node's client sends a DELETE or OPTIONS body without Content-Length otherwise.
  const headers: Record<string, string> = body ? { 'content-length': String(body.byteLength) } : {};
  if (c.contentType) headers['content-type'] = c.contentType;
  const auth = authorization(env, c.auth, base.method, path, body);
  if (auth !== null) headers['authorization'] = auth;
  return { method: base.method, path, headers, body };
}

/** One HTTP exchange; a socket reused from the pool that the server had closed is retried once on a fresh one. */
async function exchange(env: RestEnv, req: Prepared, agent: http.Agent | false): Promise<RestAnswer> {
  const url = new URL(env.baseUrl);
  const attempt = (a: http.Agent | false): Promise<RestAnswer> =>
    new Promise((resolve, reject) => {
      const r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers, agent: a, timeout: env.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8'), method: req.method }),
        );
        res.on('error', reject);
      });
      r.on('timeout', () => r.destroy(new Error(`no answer within ${env.timeoutMs} ms`)));
      r.on('error', reject);
      if (req.body) r.end(req.body);
      else r.end();
    });
  try {
    return await attempt(agent);
  } catch (error) {
    if (agent === false || !/socket hang up|ECONNRESET|EPIPE/.test((error as Error).message)) throw error;
    return attempt(false);
  }
}

/** A raw request on a bare socket; the answer is parsed just enough to check it. */
async function rawExchange(env: RestEnv, raw: string): Promise<RestAnswer> {
  const url = new URL(env.baseUrl);
  const text = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(Buffer.from(raw, 'latin1')));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    }, env.timeoutMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const sofar = Buffer.concat(chunks).toString('utf8');
      const m = /content-length:\s*(\d+)/i.exec(sofar);
      const head = sofar.indexOf('\r\n\r\n');
      if (m && head >= 0 && Buffer.byteLength(sofar.slice(head + 4)) >= Number(m[1])) {
        clearTimeout(timer);
        socket.destroy();
        resolve(sofar);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(e);
    });
  });
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
  const head = text.indexOf('\r\n\r\n');
  const contentType = /content-type:\s*([^\r\n]*)/i.exec(text.slice(0, Math.max(0, head)))?.[1] ?? '';
  return { status, contentType, body: head >= 0 ? text.slice(head + 4) : '', method: 'RAW' };
}

const SUCCESS_SCHEMAS: Array<[RegExp, { safeParse: (v: unknown) => { success: boolean } }]> = [
  [/^\/api\/v1\/meshes$/, MeshResponse],
  [/^\/api\/v1\/invites\/v2\/resolve$/, ShortInviteResolveResponse],
  [/^\/api\/v1\/invites\/v2\/claim$/, ShortInviteClaimResponse],
  [/\/invites\/v2(\?|$)/, InviteResponse],
  [/\/invites\/v2\/[^/]+\/revoke/, InviteResponse],
  [/^\/api\/v1\/join/, JoinResponse],
  [/\/members(\?|$)/, MembersResponse],
  [/\/invites\/[^/]+\/revoke/, InviteResponse],
  [/\/invites(\?|$)/, { safeParse: (v) => ({ success: Array.isArray((v as { invites?: unknown }).invites) || InviteResponse.safeParse(v).success }) }],
];

export class RestRunner {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private counter = 0;

  constructor(private readonly env: RestEnv) {}

  close(): void {
    this.agent.destroy();
  }

  private async send(c: RestCase, req: Prepared, expect: RestExpectation, context: string): Promise<RestAnswer | null> {
    const { findings } = this.env;
    findings.restRequests++;
    findings.countLabel(c.label);
    let answer: RestAnswer;
    try {
      answer = c.raw !== undefined ? await rawExchange(this.env, c.raw) : await exchange(this.env, req, this.agent);
    } catch (error) {
      findings.violation('rest-no-answer', `${c.label}: ${req.method} ${req.path.slice(0, 100)}: ${(error as Error).message}`, context);
      return null;
    }
    if (c.raw !== undefined && answer.status === 0 && answer.body === '') return answer; // closed without an answer: HTTP-level refusal
    const problem = checkRestResponse(answer, expect);
    if (problem) findings.violation(answer.status >= 500 ? 'rest-5xx' : 'rest-unexpected', `${c.label}: ${req.method} ${req.path.slice(0, 100)} → ${problem}`, context);
    else {
      findings.countOutcome(answer.status < 400 ? `HTTP ${answer.status}` : `HTTP ${answer.status}`);
      if (answer.status < 300 && req.method !== 'HEAD' && answer.contentType.startsWith('application/json')) this.checkSuccessBody(c, req, answer, context);
    }
    return answer;
  }

  private checkSuccessBody(c: RestCase, req: Prepared, answer: RestAnswer, context: string): void {
    const path = req.path.replace(/\?.*$/, '');
    const schema = SUCCESS_SCHEMAS.find(([re]) => re.test(path))?.[1];
    if (!schema) return;
    let json: unknown;
    try {
      json = JSON.parse(answer.body);
    } catch {
      this.env.findings.violation('rest-unexpected', `${c.label}: success body is not JSON`, context);
      return;
    }
    if (!schema.safeParse(json).success)
      this.env.findings.violation('rest-unexpected', `${c.label}: success body does not match its schema: ${answer.body.slice(0, 200)}`, context);
  }

  async run(c: RestCase): Promise<void> {
    if (c.recipe) return this.runRecipe(c, c.recipe);
    const req = prepare(this.env, c);
    const expect = c.expect ?? restModel(c, this.env);
    const context = `${req.method} ${req.path.slice(0, 120)} ct=${req.headers['content-type'] ?? '-'} auth=${(req.headers['authorization'] ?? '-').slice(0, 40)} body=${req.body ? req.body.toString('utf8').slice(0, 120) : '-'}`;
    await this.send(c, req, expect, context);
  }

  private json(c: RestCase, method: string, path: string, body: unknown, headers: Record<string, string> = {}): Prepared {
    return { method, path, headers: { 'content-type': JSON_CT, ...headers }, body: Buffer.from(JSON.stringify(body), 'utf8') };
  }

  private signed(id: Identity, method: string, path: string, meshId: string, body: unknown, ts = Date.now()): Prepared {
    const raw = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body), 'utf8');
    const sig = sign(requestString({ method, path, meshId, ts, bodySha256Hex: sha256Hex(new Uint8Array(raw)) }), id.secretKey);
    return {
      method,
      path,
      headers: { ...(body === undefined ? {} : { 'content-type': JSON_CT }), authorization: formatSignedRequestAuth({ pubkey: id.publicKey, ts, sig }) },
      body: body === undefined ? null : raw,
    };
  }

  private invite(issuer: Identity, opts: { meshId?: string; maxUses?: number; ttlMs?: number; now?: number } = {}): SignedInvite {
    return createInvite({
      meshId: opts.meshId ?? this.env.meshId,
      meshName: this.env.meshName,
      brokerUrl: this.env.baseUrl,
      issuer,
      maxUses: opts.maxUses ?? 1,
      ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
      inviteId: `fz-${this.counter++}-${randomUUID().slice(0, 8)}`,
    });
  }

  private async register(c: RestCase, inv: SignedInvite, expect: RestExpectation = { success: [201] }): Promise<RestAnswer | null> {
    const path = `/api/v1/meshes/${this.env.meshId}/invites`;
    return this.send(c, this.signed(this.env.owner, 'POST', path, this.env.meshId, inv), expect, `register ${inv.payload.invite_id}`);
  }

  private joinRequest(inv: SignedInvite, id: Identity, displayName: string, peerType: string, ts = Date.now(), sigBy: Identity = id): Prepared {
    const sig = sign(joinString({ meshId: inv.payload.mesh_id, inviteId: inv.payload.invite_id, memberPubkey: id.publicKey, displayName, ts }), sigBy.secretKey);
    return this.json({} as RestCase, 'POST', '/api/v1/join', {
      invite: { payload: inv.payload, sig: inv.sig },
      member_pubkey: id.publicKey,
      display_name: displayName,
      peer_type: peerType,
      ts,
      sig,
    });
  }

  private shortInvite(issuer: Identity, opts: { maxUses?: number; ttlMs?: number; now?: number } = {}): ReturnType<typeof createShortInvite> {
    return createShortInvite({
      meshId: this.env.meshId,
      meshKey: FUZZ_MESH_KEY,
      issuer,
      maxUses: opts.maxUses ?? 1,
      ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
      inviteId: `fz2-${this.counter++}-${randomUUID().slice(0, 8)}`,
    });
  }

  private claimRequest(code: string, id: Identity, displayName: string, peerType: string, sigBy: Identity = id): Prepared {
    const lookup = deriveInviteLookup(code);
    const x25519 = toB64u(id.boxPublicKey);
    const ts = Date.now();
    const sig = sign(shortInviteClaimString({ lookup, memberPubkey: id.publicKey, x25519Pubkey: x25519, displayName, peerType, ts }), sigBy.secretKey);
    return this.json({} as RestCase, 'POST', '/api/v1/invites/v2/claim', { lookup, member_pubkey: id.publicKey, x25519_pubkey: x25519, display_name: displayName, peer_type: peerType, ts, sig });
  }

  /** Invites v2 (§9b) with real codes and signatures: issuance, resolve, claim and each refusal. */
  private async runShortInviteRecipe(c: RestCase, r: Extract<Recipe, { kind: 'short-invite' }>, n: number): Promise<void> {
    const env = this.env;
    const id = env.identity(`v2-joiner-${n}`);
    const name = `rv${n}-${r.displayName}`.slice(0, 64);
    const ctx = `short invite ${r.variant} as ${name}`;
    const registerPath = `/api/v1/meshes/${env.meshId}/invites/v2`;
    const register = (issuer: Identity, record: object, expect: RestExpectation = { success: [201] }) =>
      this.send(c, this.signed(issuer, 'POST', registerPath, env.meshId, record), expect, `${ctx}: register`);
    const claim = (code: string, who: Identity, displayName: string, expect: RestExpectation, sigBy?: Identity) =>
      this.send(c, this.claimRequest(code, who, displayName, r.peerType, sigBy), expect, `${ctx}: claim`);
    switch (r.variant) {
      case 'valid': {
        const inv = this.shortInvite(env.owner);
        await register(env.owner, inv.record);
        await this.send(c, this.json(c, 'POST', '/api/v1/invites/v2/resolve', { lookup: inv.record.lookup }), { success: [200] }, `${ctx}: resolve`);
        await claim(inv.code, id, name, { success: [200] });
        return;
      }
      case 'rejoin':
      case 'exhausted': {
        const inv = this.shortInvite(env.owner, { maxUses: 1 });
        await register(env.owner, inv.record);
        await claim(inv.code, id, name, { success: [200] });
        if (r.variant === 'rejoin') await claim(inv.code, id, name, { success: [200] });
        else await claim(inv.code, env.identity(`v2-joiner-${n}-b`), `${name}-b`.slice(0, 64), { codes: ['E_INVITE_EXHAUSTED'] });
        return;
      }
      case 'revoked': {
        const inv = this.shortInvite(env.owner, { maxUses: 5 });
        await register(env.owner, inv.record);
        const revokePath = `${registerPath}/${inv.record.invite_id}/revoke`;
        await this.send(c, this.signed(env.owner, 'POST', revokePath, env.meshId, {}), { success: [200] }, `${ctx}: revoke`);
        await claim(inv.code, id, name, { codes: ['E_INVITE_REVOKED'] });
        return;
      }
      case 'expired':
        await register(env.owner, this.shortInvite(env.owner, { ttlMs: 1000, now: Date.now() - 3_600_000 }).record, { codes: ['E_INVITE_EXPIRED'] });
        return;
      case 'bad-record-sig': {
        const { record } = this.shortInvite(env.owner);
        await register(env.owner, { ...record, max_uses: record.max_uses + 1 }, { codes: ['E_INVITE_INVALID'] });
        return;
      }
      case 'bad-claim-sig': {
        const inv = this.shortInvite(env.owner);
        await register(env.owner, inv.record);
        await claim(inv.code, id, name, { codes: ['E_BAD_SIGNATURE'] }, env.identity('other-key'));
        return;
      }
      case 'not-found': {
        const code = generateInviteCode();
        await this.send(c, this.json(c, 'POST', '/api/v1/invites/v2/resolve', { lookup: deriveInviteLookup(code) }), { codes: ['E_INVITE_NOT_FOUND'] }, `${ctx}: resolve`);
        await claim(code, id, name, { codes: ['E_INVITE_NOT_FOUND'] });
        return;
      }
      case 'name-taken': {
        const inv = this.shortInvite(env.owner);
        await register(env.owner, inv.record);
        await claim(inv.code, id, 'owner', { codes: ['E_NAME_TAKEN'] });
        return;
      }
      case 'by-member':
        await register(env.member, this.shortInvite(env.member).record, { codes: ['E_FORBIDDEN'] });
        return;
    }
  }

  private async runRecipe(c: RestCase, r: Recipe): Promise<void> {
    const env = this.env;
    const n = this.counter++;
    switch (r.kind) {
      case 'short-invite':
        return this.runShortInviteRecipe(c, r, n);
      case 'create-mesh': {
        if (r.variant === 'idempotent') {
          await this.send(
            c,
            this.json(c, 'POST', '/api/v1/meshes', env.createBody, { authorization: `Bearer ${env.adminToken}` }),
            { success: [201] },
            'replayed create of the REST mesh',
          );
          return;
        }
        const owner = env.identity(`mesh-owner-${n}`);
        const meshId = r.variant === 'conflict' ? env.meshId : randomUUID();
        const ts = Date.now() - (r.variant === 'stale' ? LIMITS.requestSkewMs + 60_000 : 0);
        const name = r.variant === 'conflict' ? `${env.meshName}-other` : r.name;
        let sig = 'A'.repeat(86);
        let signable = true;
        try {
          sig = sign(meshCreateString({ meshId, name, ownerPubkey: owner.publicKey, displayName: r.displayName, ts }), owner.secretKey);
        } catch {
          signable = false; // a name the signed-string rules refuse (line break, lone surrogate)
        }
        if (r.variant === 'bad-sig') sig = sign(`x${sig}`, owner.secretKey);
        const body = { mesh_id: meshId, name, owner_pubkey: owner.publicKey, display_name: r.displayName, ts, sig };
        const schemaOk = CreateMeshBody.safeParse(body).success && MeshName.safeParse(name).success;
        let expect: RestExpectation;
        if (r.variant === 'no-admin') expect = { codes: ['E_UNAUTHORIZED'] };
        else if (!schemaOk || !signable) expect = { codes: ['E_SCHEMA'] };
        else if (r.variant === 'bad-sig') expect = { codes: ['E_BAD_SIGNATURE'] };
        else if (r.variant === 'conflict') expect = { codes: ['E_CONFLICT'] };
        else if (r.variant === 'stale') expect = { codes: ['E_STALE_TIMESTAMP'] };
        // Postgres text cannot hold NUL: refusing such a name as a schema violation is also correct.
        else expect = name.includes('\u0000') ? { success: [201], codes: ['E_SCHEMA'] } : { success: [201] };
        const headers: Record<string, string> = r.variant === 'no-admin' ? {} : { authorization: `Bearer ${env.adminToken}` };
        await this.send(c, this.json(c, 'POST', '/api/v1/meshes', body, headers), expect, `create ${JSON.stringify(name).slice(0, 60)}`);
        return;
      }
      case 'register-invite': {
        const path = (meshId: string): string => `/api/v1/meshes/${meshId}/invites`;
        switch (r.variant) {
          case 'valid':
            await this.register(c, this.invite(env.owner, { maxUses: r.maxUses }));
            return;
          case 'idempotent': {
            const inv = this.invite(env.owner, { maxUses: r.maxUses });
            await this.register(c, inv);
            await this.register(c, inv);
            return;
          }
          case 'conflict': {
            const inv = this.invite(env.owner, { maxUses: r.maxUses });
            await this.register(c, inv);
            const other = createInvite({ meshId: env.meshId, meshName: `${env.meshName} 2`, brokerUrl: env.baseUrl, issuer: env.owner, inviteId: inv.payload.invite_id });
            await this.register(c, other, { codes: ['E_CONFLICT'] });
            return;
          }
          case 'expired':
            await this.register(c, this.invite(env.owner, { ttlMs: 1000, now: Date.now() - 3_600_000 }), { codes: ['E_INVITE_EXPIRED'] });
            return;
          case 'bad-invite-sig': {
            const inv = this.invite(env.owner);
            await this.register(c, { payload: { ...inv.payload, max_uses: inv.payload.max_uses + 1 }, sig: inv.sig }, { codes: ['E_INVITE_INVALID'] });
            return;
          }
          case 'issuer-other':
            await this.register(c, this.invite(env.member), { codes: ['E_FORBIDDEN'] });
            return;
          case 'other-mesh':
            await this.register(c, this.invite(env.owner, { meshId: randomUUID() }), { codes: ['E_SCHEMA'] });
            return;
          case 'by-member': {
            const inv = this.invite(env.member);
            await this.send(c, this.signed(env.member, 'POST', path(env.meshId), env.meshId, inv), { codes: ['E_FORBIDDEN'] }, 'register by a plain member');
            return;
          }
          case 'unknown-mesh': {
            const meshId = randomUUID();
            const inv = this.invite(env.owner, { meshId });
            await this.send(c, this.signed(env.owner, 'POST', path(meshId), meshId, inv), { codes: ['E_UNKNOWN_MESH'] }, 'register on an unknown mesh');
            return;
          }
        }
        return;
      }
      case 'join': {
        const id = env.identity(`joiner-${n}`);
        const name = `rj${n}-${r.displayName}`.slice(0, 64);
        const ctx = `join ${r.variant} as ${name}`;
        switch (r.variant) {
          case 'valid':
          case 'rejoin': {
            const inv = this.invite(env.owner);
            await this.send(c, this.joinRequest(inv, id, name, r.peerType), { success: [200] }, ctx);
            if (r.variant === 'rejoin') await this.send(c, this.joinRequest(inv, id, name, r.peerType), { success: [200] }, `${ctx} (again)`);
            return;
          }
          case 'exhausted': {
            const inv = this.invite(env.owner, { maxUses: 1 });
            await this.send(c, this.joinRequest(inv, id, name, r.peerType), { success: [200] }, ctx);
            await this.send(
              c,
              this.joinRequest(inv, env.identity(`joiner-${n}-b`), `${name}-b`.slice(0, 64), r.peerType),
              { codes: ['E_INVITE_EXHAUSTED'] },
              `${ctx} (second key)`,
            );
            return;
          }
          case 'stale':
            await this.send(c, this.joinRequest(this.invite(env.owner), id, name, r.peerType, Date.now() - LIMITS.requestSkewMs - 60_000), { codes: ['E_STALE_TIMESTAMP'] }, ctx);
            return;
          case 'bad-sig':
            await this.send(c, this.joinRequest(this.invite(env.owner), id, name, r.peerType, Date.now(), env.identity('other-key')), { codes: ['E_BAD_SIGNATURE'] }, ctx);
            return;
          case 'invite-bad-sig': {
            const inv = this.invite(env.owner);
            await this.send(c, this.joinRequest({ payload: { ...inv.payload, role: 'admin' }, sig: inv.sig }, id, name, r.peerType), { codes: ['E_INVITE_INVALID'] }, ctx);
            return;
          }
          case 'invite-expired':
            await this.send(c, this.joinRequest(this.invite(env.owner, { ttlMs: 1000, now: Date.now() - 3_600_000 }), id, name, r.peerType), { codes: ['E_INVITE_EXPIRED'] }, ctx);
            return;
          case 'unknown-mesh':
            await this.send(c, this.joinRequest(this.invite(env.owner, { meshId: randomUUID() }), id, name, r.peerType), { codes: ['E_UNKNOWN_MESH'] }, ctx);
            return;
          case 'name-taken':
            await this.send(c, this.joinRequest(this.invite(env.owner), id, 'owner', r.peerType), { codes: ['E_NAME_TAKEN'] }, ctx);
            return;
          case 'member-issuer':
            await this.send(c, this.joinRequest(this.invite(env.member), id, name, r.peerType), { codes: ['E_INVITE_INVALID'] }, ctx);
            return;
          case 'revoked-invite': {
            const inv = this.invite(env.owner, { maxUses: 5 });
            await this.register(c, inv);
            const revokePath = `/api/v1/meshes/${env.meshId}/invites/${inv.payload.invite_id}/revoke`;
            await this.send(c, this.signed(env.owner, 'POST', revokePath, env.meshId, {}), { success: [200] }, 'revoke invite');
            await this.send(c, this.joinRequest(inv, id, name, r.peerType), { codes: ['E_INVITE_REVOKED'] }, ctx);
            return;
          }
        }
      }
    }
  }
}
