import { canonicalJson } from './canonical-json.js';
import { CryptoError } from './errors.js';
import { concatBytes, fromB64u, isPublicKeyHex, toB64u, utf8Decode, utf8Encode } from './encoding.js';
import { hkdfSha256, hmacSha256 } from './hkdf.js';
import type { Identity } from './identity.js';
import { DEFAULT_INVITE_TTL_MS } from './invite.js';
import type { InviteRole } from './invite-types.js';
import { randomBytes, randomId } from './random.js';
import { secretboxDecrypt, secretboxEncryptWithNonce } from './secretbox.js';
import { sign, verify } from './signing.js';
import { DOMAIN, shortInviteString } from './signed-strings.js';
import { na } from './sodium.js';

/**
 * Invites v2 ("short invites", docs/protocol.md §9b). A 16-character code is the only secret; the
 * broker stores the mesh key wrapped under a key derived from the code and indexes the invite by a
 * second, independent derivation (the lookup), so it can hand the wrapped key to whoever knows the
 * code without ever being able to open it.
 */

/** Crockford base32: digits and letters without I, L, O and U (no look-alikes, no accidental words). */
export const INVITE_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const INVITE_CODE_LENGTH = 16;
/** 16 characters × 5 bits = 80 random bits. */
export const INVITE_CODE_BYTES = 10;
export const SHORT_INVITE_PATH = '/i/';
const WRAP_NONCE_BYTES = 24;
const MESH_KEY_BYTES = 32;
const ZERO_SALT = new Uint8Array(32);
/** Crockford decoding aliases: readers mistake these for digits. */
const ALIASES: Record<string, string> = { I: '1', L: '1', O: '0' };

export interface ShortInviteRecord {
  mesh_id: string;
  invite_id: string;
  /** base64url HMAC of the code: the broker's index, and the joiner's proof that it knows the code. */
  lookup: string;
  /** base64url of nonce (24 bytes) ‖ secretbox(canonical JSON {issuer, mesh_id, mesh_key}) under wrap_key. */
  wrapped_mesh_key: string;
  role: InviteRole;
  max_uses: number;
  expires_at: number;
  issuer: string;
  sig: string;
}

export interface CreateShortInviteOptions {
  meshId: string;
  meshKey: Uint8Array;
  issuer: Identity;
  role?: InviteRole;
  ttlMs?: number;
  maxUses?: number;
  now?: number;
  inviteId?: string;
  /** A canonical code; random when absent. */
  code?: string;
  /** @internal Fixed wrap nonce for test vectors only. */
  nonce?: Uint8Array;
}

const invalid = (why: string): CryptoError => new CryptoError('E_INVITE_INVALID', why);

/** 80 random bits as 16 Crockford base32 characters, most significant bits first. */
export function generateInviteCode(random: Uint8Array = randomBytes(INVITE_CODE_BYTES)): string {
  if (!(random instanceof Uint8Array) || random.length !== INVITE_CODE_BYTES) throw invalid(`a code is made of ${INVITE_CODE_BYTES} random bytes`);
  let bits = 0n;
  for (const b of random) bits = (bits << 8n) | BigInt(b);
  let code = '';
  for (let i = INVITE_CODE_LENGTH - 1; i >= 0; i--) code += INVITE_CODE_ALPHABET[Number((bits >> BigInt(5 * i)) & 31n)]!;
  return code;
}

/**
 * The canonical code (16 upper-case characters, no dashes) from what a person typed: case does not
 * matter, dashes are optional, and I/L read as 1, O as 0 (Crockford's decoding rules).
 */
export function normalizeInviteCode(input: string): string {
  if (typeof input !== 'string') throw invalid('an invite code must be a string');
  const code = [...input.trim().replaceAll('-', '').toUpperCase()].map((c) => ALIASES[c] ?? c).join('');
  if (code.length !== INVITE_CODE_LENGTH) throw invalid(`an invite code has ${INVITE_CODE_LENGTH} characters (dashes aside), not ${code.length}`);
  for (const c of code) if (!INVITE_CODE_ALPHABET.includes(c)) throw invalid(`an invite code has no character ${JSON.stringify(c)}`);
  return code;
}

/** `ABCD-EFGH-JKLM-NPQR`: groups of four are easier to read out and type. */
export function formatInviteCode(code: string): string {
  const canonical = normalizeInviteCode(code);
  return canonical.match(/.{4}/g)!.join('-');
}

/** The broker's http(s) origin from any of its ws, wss, http or https URLs. */
export function httpOrigin(brokerUrl: string): string {
  let url: URL;
  try {
    url = new URL(brokerUrl);
  } catch {
    throw invalid('broker URL is not a URL');
  }
  const protocol = { 'ws:': 'http:', 'wss:': 'https:', 'http:': 'http:', 'https:': 'https:' }[url.protocol];
  if (!protocol || !url.host) throw invalid('broker URL must be a ws, wss, http or https URL');
  return `${protocol}//${url.host}`;
}

/** `<broker origin>/i/ABCD-EFGH-JKLM-NPQR`. */
export function encodeShortInviteLink(brokerUrl: string, code: string): string {
  return `${httpOrigin(brokerUrl)}${SHORT_INVITE_PATH}${formatInviteCode(code)}`;
}

/** True when the text is shaped like a short link (it may still hold a malformed code). */
export function isShortInviteLink(text: string): boolean {
  return typeof text === 'string' && /^https?:\/\/[^/]+\/i\/[^/]*\/?([?#].*)?$/i.test(text.trim());
}

/** `<origin>/i/<code>` → the broker origin and the canonical code; query and fragment are ignored. */
export function parseShortInviteLink(link: string): { brokerUrl: string; code: string } {
  if (!isShortInviteLink(link)) throw invalid('a short invite link looks like https://<broker>/i/ABCD-EFGH-JKLM-NPQR');
  let url: URL;
  try {
    url = new URL(link.trim());
  } catch {
    throw invalid('the short invite link is not a URL');
  }
  const segment = /^\/i\/([^/]+)\/?$/.exec(url.pathname)?.[1];
  if (!segment) throw invalid('the short invite link has no code after /i/');
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw invalid('the code in the short invite link is not valid percent-encoding');
  }
  return { brokerUrl: httpOrigin(url.origin), code: normalizeInviteCode(decoded) };
}

const codeBytes = (code: string): Uint8Array => utf8Encode(normalizeInviteCode(code));

/** lookup = HMAC-SHA256(key = ASCII(code), message = "claudemesh/v1/short-invite-lookup"), base64url. */
export function deriveInviteLookup(code: string): string {
  return toB64u(hmacSha256(codeBytes(code), utf8Encode(DOMAIN.shortInviteLookup)));
}

/** wrap_key = HKDF-SHA256(IKM = ASCII(code), salt = 32 zero bytes, info = "claudemesh/v1/short-invite-wrap", L = 32). Never leaves the peer. */
export function deriveInviteWrapKey(code: string): Uint8Array {
  return hkdfSha256(codeBytes(code), ZERO_SALT, DOMAIN.shortInviteWrap, MESH_KEY_BYTES);
}

/** The wrapped plaintext binds the mesh key to its mesh and issuer, which the joiner checks against the signed record. */
function wrapPlaintext(meshKey: Uint8Array, meshId: string, issuer: string): string {
  return canonicalJson({ issuer, mesh_id: meshId, mesh_key: toB64u(meshKey) });
}

/** nonce ‖ secretbox(canonical JSON {issuer, mesh_id, mesh_key}, wrap_key), base64url. */
export function wrapMeshKey(code: string, opts: { meshKey: Uint8Array; meshId: string; issuer: string }, nonce: Uint8Array = randomBytes(WRAP_NONCE_BYTES)): string {
  if (!(opts.meshKey instanceof Uint8Array) || opts.meshKey.length !== MESH_KEY_BYTES) throw invalid(`mesh key must be ${MESH_KEY_BYTES} bytes`);
  if (!isPublicKeyHex(opts.issuer)) throw invalid('issuer must be 64 lowercase hex chars');
  const sealed = secretboxEncryptWithNonce(wrapPlaintext(opts.meshKey, opts.meshId, opts.issuer), deriveInviteWrapKey(code), nonce);
  return toB64u(concatBytes(fromB64u(sealed.nonce), fromB64u(sealed.ciphertext)));
}

/** Opens a wrapped mesh key with the code. Every failure (wrong code, tampering, bad shape) is E_DECRYPT. */
export function unwrapMeshKey(code: string, wrapped: string): { meshKey: Uint8Array; meshId: string; issuer: string } {
  const fail = (why: string): CryptoError => new CryptoError('E_DECRYPT', why);
  let bytes: Uint8Array;
  try {
    bytes = fromB64u(wrapped);
  } catch {
    throw fail('wrapped mesh key is not base64url');
  }
  if (bytes.length < WRAP_NONCE_BYTES + na().crypto_secretbox_MACBYTES) throw fail('wrapped mesh key is too short');
  const sealed = { nonce: toB64u(bytes.subarray(0, WRAP_NONCE_BYTES)), ciphertext: toB64u(bytes.subarray(WRAP_NONCE_BYTES)) };
  const plain = secretboxDecrypt(sealed, deriveInviteWrapKey(code));
  let inner: unknown;
  try {
    inner = JSON.parse(utf8Decode(plain));
  } catch {
    throw fail('wrapped mesh key does not hold JSON');
  }
  const { issuer, mesh_id: meshId, mesh_key: key } = (inner ?? {}) as Record<string, unknown>;
  if (typeof issuer !== 'string' || typeof meshId !== 'string' || typeof key !== 'string') throw fail('wrapped mesh key lacks issuer, mesh_id or mesh_key');
  let meshKey: Uint8Array;
  try {
    meshKey = fromB64u(key);
  } catch {
    throw fail('wrapped mesh_key is not base64url');
  }
  if (meshKey.length !== MESH_KEY_BYTES) throw fail(`wrapped mesh_key must be ${MESH_KEY_BYTES} bytes`);
  return { meshKey, meshId, issuer };
}

function recordFields(r: Omit<ShortInviteRecord, 'sig'>) {
  return {
    meshId: r.mesh_id, inviteId: r.invite_id, lookup: r.lookup, wrappedMeshKey: r.wrapped_mesh_key,
    role: r.role, maxUses: r.max_uses, expiresAt: r.expires_at, issuer: r.issuer,
  };
}

/** A new short invite: the code to hand to the joiner and the signed record to register with the broker. */
export function createShortInvite(opts: CreateShortInviteOptions): { code: string; record: ShortInviteRecord } {
  const now = opts.now ?? Date.now();
  const ttlMs = opts.ttlMs ?? DEFAULT_INVITE_TTL_MS;
  const maxUses = opts.maxUses ?? 1;
  const role = opts.role ?? 'member';
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw invalid('ttlMs must be a positive integer');
  if (!Number.isSafeInteger(maxUses) || maxUses < 1) throw invalid('maxUses must be an integer >= 1');
  if (role !== 'member' && role !== 'admin') throw invalid('role must be member or admin');
  const code = opts.code === undefined ? generateInviteCode() : normalizeInviteCode(opts.code);
  const unsigned = {
    mesh_id: opts.meshId,
    invite_id: opts.inviteId ?? randomId(),
    lookup: deriveInviteLookup(code),
    wrapped_mesh_key: wrapMeshKey(code, { meshKey: opts.meshKey, meshId: opts.meshId, issuer: opts.issuer.publicKey }, opts.nonce),
    role,
    max_uses: maxUses,
    expires_at: now + ttlMs,
    issuer: opts.issuer.publicKey,
  };
  return { code, record: { ...unsigned, sig: sign(shortInviteString(recordFields(unsigned)), opts.issuer.secretKey) } };
}

/** True when record.issuer signed every field of the record. Never throws. */
export function verifyShortInviteSignature(record: ShortInviteRecord): boolean {
  try {
    return verify(shortInviteString(recordFields(record)), record.sig, record.issuer);
  } catch {
    return false;
  }
}

/**
 * What a joiner does with the record the broker returns: the record must be for this code (lookup),
 * signed by its issuer, and its wrapped key must open with the code and name the same mesh and
 * issuer. Returns the mesh key; any mismatch is E_INVITE_INVALID (the broker cannot have forged it).
 */
export function openShortInvite(code: string, record: ShortInviteRecord): Uint8Array {
  if (typeof record !== 'object' || record === null) throw invalid('the invite record must be an object');
  if (record.lookup !== deriveInviteLookup(code)) throw invalid('the invite record is not the one for this code');
  if (!verifyShortInviteSignature(record)) throw invalid('the invite record is not signed by its issuer');
  let opened: ReturnType<typeof unwrapMeshKey>;
  try {
    opened = unwrapMeshKey(code, record.wrapped_mesh_key);
  } catch {
    throw invalid('the wrapped mesh key does not open with this code');
  }
  if (opened.meshId !== record.mesh_id || opened.issuer !== record.issuer) throw invalid('the wrapped mesh key names another mesh or issuer');
  return opened.meshKey;
}
