import { canonicalJson } from './canonical-json.js';
import { CryptoError } from './errors.js';
import { fromB64u, isPublicKeyHex, toB64u, utf8Decode, utf8Encode } from './encoding.js';
import { hmacSha256 } from './hkdf.js';
import { edPublicToBoxPublic, type Identity } from './identity.js';
import { DEFAULT_INVITE_TTL_MS } from './invite.js';
import type { InviteRole } from './invite-types.js';
import { randomId } from './random.js';
import { sealOpen, sealTo } from './seal.js';
import { formatInviteCode, httpOrigin, normalizeInviteCode } from './short-invite.js';
import { sign, verify } from './signing.js';
import { DOMAIN, emailInviteString, keyHandoffString } from './signed-strings.js';

/**
 * Email invites (docs/protocol.md §9c). The broker mails a code it made itself, so the code admits a
 * member but carries no key: the mesh key reaches the joiner later, sealed to the joiner's own key
 * by the inviting admin (a key handoff) and signed by that admin, whom the mailed link names.
 */

export const EMAIL_INVITE_PATH = '/e/';
/** The typed form of a mailed code: `E-` and the 16 characters, so it never reads as a short-invite code. */
export const EMAIL_CODE_PREFIX = 'E-';
const MESH_KEY_BYTES = 32;

/** What the inviting admin signs and the broker stores: no code, no key. */
export interface EmailInviteRecord {
  mesh_id: string;
  invite_id: string;
  email: string;
  /** The display name suggested for the joiner (not binding). */
  display_name?: string | undefined;
  role: InviteRole;
  expires_at: number;
  issuer: string;
  sig: string;
}

export interface CreateEmailInviteOptions {
  meshId: string;
  email: string;
  issuer: Identity;
  displayName?: string;
  role?: InviteRole;
  ttlMs?: number;
  now?: number;
  inviteId?: string;
}

/** The mesh key as the inviting admin hands it to one joiner. */
export interface KeyHandoff {
  /** crypto_box_seal(canonical JSON {invite_id, issuer, member_pubkey, mesh_id, mesh_key}) to the joiner's x25519 key. */
  sealed: string;
  /** The issuer's signature over the key-handoff string. */
  sig: string;
}

export interface KeyHandoffTarget {
  meshId: string;
  inviteId: string;
  /** The joiner's member key; the box goes to its x25519 form. */
  memberPubkey: string;
  /** The inviting admin: the one key whose handoff the joiner accepts. */
  issuer: string;
}

const invalid = (why: string): CryptoError => new CryptoError('E_INVITE_INVALID', why);

const recordFields = (r: Omit<EmailInviteRecord, 'sig'>) => ({
  meshId: r.mesh_id, inviteId: r.invite_id, email: r.email, displayName: r.display_name ?? '', role: r.role, expiresAt: r.expires_at, issuer: r.issuer,
});

/** The signed terms of an email invite (the broker adds the code). */
export function createEmailInvite(opts: CreateEmailInviteOptions): EmailInviteRecord {
  const now = opts.now ?? Date.now();
  const ttlMs = opts.ttlMs ?? DEFAULT_INVITE_TTL_MS;
  const role = opts.role ?? 'member';
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw invalid('ttlMs must be a positive integer');
  if (role !== 'member' && role !== 'admin') throw invalid('role must be member or admin');
  const unsigned = {
    mesh_id: opts.meshId,
    invite_id: opts.inviteId ?? randomId(),
    email: opts.email,
    ...(opts.displayName ? { display_name: opts.displayName } : {}),
    role,
    expires_at: now + ttlMs,
    issuer: opts.issuer.publicKey,
  };
  return { ...unsigned, sig: sign(emailInviteString(recordFields(unsigned)), opts.issuer.secretKey) };
}

/** True when record.issuer signed the record's terms. Never throws. */
export function verifyEmailInviteSignature(record: EmailInviteRecord): boolean {
  try {
    return verify(emailInviteString(recordFields(record)), record.sig, record.issuer);
  } catch {
    return false;
  }
}

/** lookup = HMAC-SHA256(key = ASCII(code), message = "claudemesh/v1/email-invite-lookup"), base64url. */
export function deriveEmailInviteLookup(code: string): string {
  return toB64u(hmacSha256(utf8Encode(normalizeInviteCode(code)), utf8Encode(DOMAIN.emailInviteLookup)));
}

/** `E-ABCD-EFGH-JKMN-PQRS`. */
export function formatEmailInviteCode(code: string): string {
  return `${EMAIL_CODE_PREFIX}${formatInviteCode(code)}`;
}

/** The canonical code of a typed `E-…` code, or null when the text is not one (it may be a short-invite code). */
export function parseEmailInviteCode(text: string): string | null {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  if (!/^e-/i.test(trimmed)) return null;
  try {
    return normalizeInviteCode(trimmed.slice(EMAIL_CODE_PREFIX.length));
  } catch {
    return null;
  }
}


/** `<broker origin>/e/ABCD-EFGH-JKMN-PQRS?issuer=<inviting admin's member key>`. */
export function encodeEmailInviteLink(brokerUrl: string, code: string, issuer: string): string {
  if (!isPublicKeyHex(issuer)) throw invalid('issuer must be 64 lowercase hex chars');
  return `${httpOrigin(brokerUrl)}${EMAIL_INVITE_PATH}${formatInviteCode(code)}?issuer=${issuer}`;
}

/** True when the text is shaped like an email-invite link (it may still hold a malformed code). */
export function isEmailInviteLink(text: string): boolean {
  return typeof text === 'string' && /^https?:\/\/[^/]+\/e\/[^/?#]*\/?([?#].*)?$/i.test(text.trim());
}

/** `<origin>/e/<code>[?issuer=<hex>]` → the broker origin, the canonical code and the admin the link names. */
export function parseEmailInviteLink(link: string): { brokerUrl: string; code: string; issuer?: string } {
  if (!isEmailInviteLink(link)) throw invalid('an email invite link looks like https://<broker>/e/ABCD-EFGH-JKMN-PQRS?issuer=<key>');
  const url = new URL(link.trim());
  const segment = /^\/e\/([^/]+)\/?$/.exec(url.pathname)?.[1];
  if (!segment) throw invalid('the email invite link has no code after /e/');
  const issuer = url.searchParams.get('issuer');
  if (issuer !== null && !isPublicKeyHex(issuer)) throw invalid('the issuer in the email invite link is not a member key (64 lowercase hex chars)');
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw invalid('the code in the email invite link is not valid percent-encoding');
  }
  return { brokerUrl: httpOrigin(url.origin), code: normalizeInviteCode(decoded), ...(issuer ? { issuer } : {}) };
}

const handoffPlaintext = (t: KeyHandoffTarget, meshKey: Uint8Array): string =>
  canonicalJson({ invite_id: t.inviteId, issuer: t.issuer, member_pubkey: t.memberPubkey, mesh_id: t.meshId, mesh_key: toB64u(meshKey) });

const handoffFields = (t: KeyHandoffTarget, sealed: string) => ({
  meshId: t.meshId, inviteId: t.inviteId, memberPubkey: t.memberPubkey, x25519Pubkey: toB64u(edPublicToBoxPublic(t.memberPubkey)), sealed, issuer: t.issuer,
});

/** The inviting admin seals the mesh key to the joiner and signs what it sealed, for whom. */
export function createKeyHandoff(target: Omit<KeyHandoffTarget, 'issuer'>, meshKey: Uint8Array, issuer: Identity): KeyHandoff {
  if (!(meshKey instanceof Uint8Array) || meshKey.length !== MESH_KEY_BYTES) throw invalid(`mesh key must be ${MESH_KEY_BYTES} bytes`);
  const t: KeyHandoffTarget = { ...target, issuer: issuer.publicKey };
  const sealed = sealTo(handoffPlaintext(t, meshKey), t.memberPubkey);
  return { sealed, sig: sign(keyHandoffString(handoffFields(t, sealed)), issuer.secretKey) };
}

/** True when `target.issuer` signed this sealed box for this joiner, invite and mesh. Never throws. */
export function verifyKeyHandoffSignature(handoff: KeyHandoff, target: KeyHandoffTarget): boolean {
  try {
    return verify(keyHandoffString(handoffFields(target, handoff.sealed)), handoff.sig, target.issuer);
  } catch {
    return false;
  }
}

/**
 * What the joiner does with a handoff: the signature must be the expected issuer's over exactly this
 * box for this joiner, and the box must open and name the same mesh, invite, issuer and joiner.
 * Returns the mesh key; any mismatch is E_INVITE_INVALID and nothing from the box is used.
 */
export function openKeyHandoff(handoff: KeyHandoff, target: Omit<KeyHandoffTarget, 'memberPubkey'>, recipient: Identity): Uint8Array {
  const t: KeyHandoffTarget = { ...target, memberPubkey: recipient.publicKey };
  if (!verifyKeyHandoffSignature(handoff, t)) throw invalid('the key handoff is not signed by the inviting admin');
  let inner: Record<string, unknown>;
  try {
    inner = JSON.parse(utf8Decode(sealOpen(handoff.sealed, recipient))) as Record<string, unknown>;
  } catch {
    throw invalid('the key handoff does not open with your key');
  }
  if (inner['mesh_id'] !== t.meshId || inner['invite_id'] !== t.inviteId || inner['issuer'] !== t.issuer || inner['member_pubkey'] !== t.memberPubkey) {
    throw invalid('the key handoff names another mesh, invite, issuer or member');
  }
  let meshKey: Uint8Array;
  try {
    meshKey = fromB64u(String(inner['mesh_key']));
  } catch {
    throw invalid('the handed-over mesh key is not base64url');
  }
  if (meshKey.length !== MESH_KEY_BYTES) throw invalid(`the handed-over mesh key is not ${MESH_KEY_BYTES} bytes`);
  return meshKey;
}
