/**
 * REST fuzzing, the model (docs/protocol.md §8): case shapes, route paths, and the answer the
 * protocol requires for each case — `restModel` follows §8's verification order (body parsing →
 * path parameters → Authorization → body schema → membership and role → route checks).
 */
import { CreateMeshBody, JoinBody, PubkeyHex, ShortInviteBody, ShortInviteClaimBody, ShortInviteResolveBody, SignedInviteBody, Uuid, type ErrorCode } from '@claudemesh/core';
import { repeatsAKey, wireText } from './json-text.js';
import { type RestExpectation } from './oracle.js';

export const JSON_CT = 'application/json';

/** REST body limit (§1.2). */
export const MAX_BODY_BYTES = 1_048_576;
const MAX_PARAM_LENGTH = 100;

// ---------------------------------------------------------------------------------------------
// Case shapes

export type Tamper = 'none' | 'sig' | 'stale' | 'future' | 'path' | 'body' | 'method' | 'pubkey';
export type Signer = 'owner' | 'member' | 'stranger';

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
  /** One properly signed request sent twice: the second is E_REPLAY whatever the first answered (§8.1). */
  | { kind: 'replay'; variant: 'members' | 'list-invites' | 'register-invite' | 'revoke-invite' | 'register-v2' | 'refused' }
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

export type Parsed = { kind: 'none' } | { kind: 'value'; value: unknown } | { kind: 'parse-error' } | { kind: 'unsupported' } | { kind: 'too-large' } | { kind: 'loose'; value?: unknown };

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
export function parseBody(contentType: string | null, body: BodySpec): Parsed {
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
  // §8: a JSON body is UTF-8 exactly (bytes that do not survive a decode and re-encode are refused).
  if (body.kind === 'bytes' && !Buffer.from(text, 'utf8').equals(Buffer.from(body.bytes))) return { kind: 'parse-error' };
  try {
    // RFC 8259 §8.1: a parser may ignore a byte order mark.
    const json = text.replace(/^\ufeff/, '');
    const value: unknown = JSON.parse(json);
    // §8: a body that names a member twice is refused like one that is not JSON.
    return isPoisoned(value) || repeatsAKey(json) ? { kind: 'parse-error' } : { kind: 'value', value };
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

