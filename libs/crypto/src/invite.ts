import { canonicalJson } from './canonical-json.js';
import { CryptoError } from './errors.js';
import { fromB64u, isPublicKeyHex, isWellFormedString, toB64u, utf8Decode, utf8Encode } from './encoding.js';
import type { Identity } from './identity.js';
import type { InvitePayload, InviteRole, SignedInvite } from './invite-types.js';
import { randomId } from './random.js';
import { sign, verify } from './signing.js';
import { inviteSignedString } from './signed-strings.js';

export type { InvitePayload, InviteRole, SignedInvite } from './invite-types.js';

export const INVITE_LINK_PREFIX = 'ic://join/';
export const DEFAULT_INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000;
const MAX_STRING = 2048;
const PAYLOAD_KEYS = ['v', 'mesh_id', 'mesh_name', 'broker_url', 'invite_id', 'role', 'issuer', 'created_at', 'expires_at', 'max_uses'];
const BLOB_KEYS = ['p', 's', 'k'];
const BROKER_PROTOCOLS: Record<string, string> = { 'ws:': 'http:', 'wss:': 'https:', 'http:': 'http:', 'https:': 'https:' };

export interface CreateInviteOptions {
  meshId: string;
  meshName: string;
  brokerUrl: string;
  role?: InviteRole;
  ttlMs?: number;
  maxUses?: number;
  issuer: Identity;
  now?: number;
  inviteId?: string;
}

export type InviteCheck = { ok: true } | { ok: false; code: 'E_INVITE_INVALID' | 'E_INVITE_EXPIRED' };

const invalid = (why: string): CryptoError => new CryptoError('E_INVITE_INVALID', why);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(record: Record<string, unknown>, allowed: string[], what: string): void {
  for (const key of Object.keys(record)) if (!allowed.includes(key)) throw invalid(`${what} has unknown field ${key}`);
}

function str(record: Record<string, unknown>, key: string): string {
  const value = record[key];
  // Characters are code points, as in every length limit of the protocol (docs/protocol.md §1.1).
  if (typeof value !== 'string' || value.length === 0 || (value.length > MAX_STRING && [...value].length > MAX_STRING)) {
    throw invalid(`${key} must be a non-empty string of at most ${MAX_STRING} characters`);
  }
  // Control characters (newlines, terminal escapes) have no business in names shown to a joiner.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(value) || !isWellFormedString(value)) {
    throw invalid(`${key} must be well-formed text without control characters`);
  }
  return value;
}

function uint(record: Record<string, unknown>, key: string, min: number): number {
  const value = record[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw invalid(`${key} must be an integer >= ${min}`);
  return value;
}

function brokerOrigin(brokerUrl: string): string {
  let url: URL;
  try {
    url = new URL(brokerUrl);
  } catch {
    throw invalid('broker_url is not a URL');
  }
  const protocol = BROKER_PROTOCOLS[url.protocol];
  if (!protocol || !url.host) throw invalid('broker_url must be a ws, wss, http or https URL');
  return `${protocol}//${url.host}`;
}

/** Strict v1 shape check; returns a fresh payload holding exactly the v1 fields. */
export function validateInvitePayload(value: unknown): InvitePayload {
  if (!isRecord(value)) throw invalid('payload must be an object');
  onlyKeys(value, PAYLOAD_KEYS, 'payload');
  if (value.v !== 1) throw invalid('unsupported invite version');
  const role = value.role;
  if (role !== 'member' && role !== 'admin') throw invalid('role must be member or admin');
  if (!isPublicKeyHex(value.issuer)) throw invalid('issuer must be 64 lowercase hex chars');
  const payload: InvitePayload = {
    v: 1,
    mesh_id: str(value, 'mesh_id'),
    mesh_name: str(value, 'mesh_name'),
    broker_url: str(value, 'broker_url'),
    invite_id: str(value, 'invite_id'),
    role,
    issuer: value.issuer,
    created_at: uint(value, 'created_at', 0),
    expires_at: uint(value, 'expires_at', 0),
    max_uses: uint(value, 'max_uses', 1),
  };
  brokerOrigin(payload.broker_url);
  if (payload.expires_at <= payload.created_at) throw invalid('expires_at must be after created_at');
  return payload;
}

function validateSignedInvite(value: unknown): SignedInvite {
  if (!isRecord(value)) throw invalid('invite must be an object');
  const payload = validateInvitePayload(value.payload);
  const sig = value.sig;
  let sigBytes: Uint8Array;
  try {
    sigBytes = fromB64u(typeof sig === 'string' ? sig : '!');
  } catch {
    throw invalid('sig must be base64url');
  }
  if (sigBytes.length !== 64 || typeof sig !== 'string') throw invalid('sig must be a 64-byte ed25519 signature');
  return { payload, sig };
}

export function createInvite(opts: CreateInviteOptions): SignedInvite {
  const now = opts.now ?? Date.now();
  const ttlMs = opts.ttlMs ?? DEFAULT_INVITE_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw invalid('ttlMs must be a positive integer');
  const payload = validateInvitePayload({
    v: 1,
    mesh_id: opts.meshId,
    mesh_name: opts.meshName,
    broker_url: opts.brokerUrl,
    invite_id: opts.inviteId ?? randomId(),
    role: opts.role ?? 'member',
    issuer: opts.issuer.publicKey,
    created_at: now,
    expires_at: now + ttlMs,
    max_uses: opts.maxUses ?? 1,
  });
  return { payload, sig: sign(inviteSignedString(payload), opts.issuer.secretKey) };
}

/** True when payload.issuer signed the invite's canonical string. Never throws. */
export function verifyInviteSignature(inv: SignedInvite): boolean {
  let checked: SignedInvite;
  try {
    checked = validateSignedInvite(inv);
  } catch {
    return false;
  }
  return verify(inviteSignedString(checked.payload), checked.sig, checked.payload.issuer);
}

/** Shape, then signature, then expiry (expired once now >= expires_at). Never throws for a malformed invite. */
export function checkInvite(inv: SignedInvite, now: number): InviteCheck {
  if (!Number.isSafeInteger(now) || now < 0) throw new CryptoError('E_FIELD_INVALID', 'now must be epoch milliseconds');
  if (!verifyInviteSignature(inv)) return { ok: false, code: 'E_INVITE_INVALID' };
  if (now >= inv.payload.expires_at) return { ok: false, code: 'E_INVITE_EXPIRED' };
  return { ok: true };
}

function encodeBlob(inv: SignedInvite, meshKey?: Uint8Array): string {
  const signed = validateSignedInvite(inv);
  const blob: Record<string, unknown> = { p: signed.payload, s: signed.sig };
  if (meshKey !== undefined) {
    if (!(meshKey instanceof Uint8Array) || meshKey.length !== 32) throw invalid('mesh key must be 32 bytes');
    blob.k = toB64u(meshKey);
  }
  return toB64u(utf8Encode(canonicalJson(blob)));
}

/** `ic://join/<blob>`; the blob is base64url(canonical JSON {k?, p, s}). With a mesh key the link is a bearer secret. */
export function encodeInviteLink(inv: SignedInvite, meshKey?: Uint8Array): string {
  return INVITE_LINK_PREFIX + encodeBlob(inv, meshKey);
}

/** `<broker origin as http(s)>/join#<blob>`: the blob sits in the fragment, which browsers never send to a server. */
export function encodeInviteHttpsLink(inv: SignedInvite, meshKey?: Uint8Array): string {
  return `${brokerOrigin(inv.payload.broker_url)}/join#${encodeBlob(inv, meshKey)}`;
}

function extractBlob(link: string): string {
  if (link.startsWith(INVITE_LINK_PREFIX)) return link.slice(INVITE_LINK_PREFIX.length);
  if (/^https?:\/\//i.test(link)) {
    let url: URL;
    try {
      url = new URL(link);
    } catch {
      throw invalid('link is not a URL');
    }
    if (!url.pathname.endsWith('/join') || url.hash.length < 2) throw invalid('https invite link must look like <origin>/join#<blob>');
    return url.hash.slice(1);
  }
  return link;
}

/**
 * Accepts `ic://join/<blob>`, `https://host/join#<blob>` or the bare blob. Checks shape only:
 * call checkInvite for the signature and expiry.
 */
export function parseInviteLink(link: string): { invite: SignedInvite; meshKey?: Uint8Array } {
  if (typeof link !== 'string') throw invalid('link must be a string');
  const blob = extractBlob(link.trim());
  let decoded: unknown;
  try {
    decoded = JSON.parse(utf8Decode(fromB64u(blob)));
  } catch {
    throw invalid('link blob is not base64url JSON');
  }
  if (!isRecord(decoded)) throw invalid('link blob must be an object');
  onlyKeys(decoded, BLOB_KEYS, 'link blob');
  const invite = validateSignedInvite({ payload: decoded.p, sig: decoded.s });
  if (decoded.k === undefined) return { invite };
  let meshKey: Uint8Array;
  try {
    meshKey = fromB64u(typeof decoded.k === 'string' ? decoded.k : '!');
  } catch {
    throw invalid('k must be base64url');
  }
  if (meshKey.length !== 32) throw invalid('k must be a 32-byte mesh key');
  return { invite, meshKey };
}
