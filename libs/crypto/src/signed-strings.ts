import { canonicalJson } from './canonical-json.js';
import { CryptoError } from './errors.js';
import { isWellFormedString } from './encoding.js';
import type { EpochManifest } from './epoch-types.js';
import type { InvitePayload } from './invite-types.js';

/** Domain tags: the first line of every signed string, so a signature for one purpose never verifies for another. */
export const DOMAIN = {
  hello: 'claudemesh/v1/hello',
  session: 'claudemesh/v1/session',
  invite: 'claudemesh/v1/invite',
  join: 'claudemesh/v1/join',
  meshCreate: 'claudemesh/v1/mesh-create',
  request: 'claudemesh/v1/request',
  safety: 'claudemesh/v1/safety-number',
  /** Invites v2: the issuer's signature over a short-invite record. */
  shortInvite: 'claudemesh/v1/short-invite',
  /** Invites v2: the joiner's signature over its claim. */
  shortInviteClaim: 'claudemesh/v1/short-invite-claim',
  /** Invites v2: HMAC message that turns a code into the lookup the broker indexes (not a signature). */
  shortInviteLookup: 'claudemesh/v1/short-invite-lookup',
  /** Invites v2: HKDF info that turns a code into the key wrapping the mesh key (not a signature). */
  shortInviteWrap: 'claudemesh/v1/short-invite-wrap',
  /** Email invites: the inviting admin's signature over the invite terms (§9c). */
  emailInvite: 'claudemesh/v1/email-invite',
  /** Email invites: the joiner's signature over its claim. */
  emailInviteClaim: 'claudemesh/v1/email-invite-claim',
  /** Email invites: HMAC message that turns the mailed code into the lookup the broker indexes (not a signature). */
  emailInviteLookup: 'claudemesh/v1/email-invite-lookup',
  /** Email invites: the inviting admin's signature over a mesh key sealed to the joiner. */
  keyHandoff: 'claudemesh/v1/key-handoff',
  /** A human enrolled with an API key takes a keypair of its own (protocol §6.5): signed by the new key. */
  identityClaim: 'claudemesh/v1/identity-claim',
  /** Key epochs: the creator's signature over an epoch manifest (tag, newline, canonical JSON). */
  keyEpoch: 'claudemesh/v1/key-epoch',
  /** Key epochs: hashing domain of the manifest hash that chains epochs (not a signature). */
  keyEpochHash: 'claudemesh/v1/key-epoch-hash',
  /** Key epochs: the sealer's signature over one member's sealed copy of an epoch key. */
  keyEpochSeal: 'claudemesh/v1/key-epoch-seal',
  /** An earlier epoch's key shared with a member who joined later (a topic whose history is shared). */
  keyEpochHistorySeal: 'claudemesh/v1/key-epoch-history-seal',
  /** Key epochs: first line of a message's associated data, which the sender also signs. */
  keyEpochMessage: 'claudemesh/v1/key-epoch-message',
  /** Key epochs: HKDF info turning an epoch key into the commitment its manifest publishes (not a signature). */
  keyEpochCommitment: 'claudemesh/v1/key-epoch-commitment',
  /** Key epochs: HKDF info turning an epoch key into the AEAD key of its messages (not a signature). */
  keyEpochMessageKey: 'claudemesh/v1/key-epoch-message-key',
} as const;

export type Domain = (typeof DOMAIN)[keyof typeof DOMAIN];

export interface HelloFields { meshId: string; memberPubkey: string; sessionPubkey: string; nonce: string; ts: number }
export interface SessionAttestationFields { meshId: string; memberPubkey: string; sessionPubkey: string; expiresAt: number }
export interface JoinFields { meshId: string; inviteId: string; memberPubkey: string; displayName: string; ts: number }
export interface MeshCreateFields { meshId: string; name: string; ownerPubkey: string; displayName: string; ts: number }
export interface RequestFields { method: string; path: string; meshId: string; ts: number; bodySha256Hex: string }
export interface ShortInviteFields {
  meshId: string; inviteId: string; lookup: string; wrappedMeshKey: string; role: string; maxUses: number; expiresAt: number; issuer: string;
}
export interface ShortInviteClaimFields {
  lookup: string; memberPubkey: string; x25519Pubkey: string; displayName: string; peerType: string; ts: number;
}

export interface EmailInviteFields {
  meshId: string; inviteId: string; email: string; displayName: string; role: string; expiresAt: number; issuer: string;
}
export interface KeyHandoffFields {
  meshId: string; inviteId: string; memberPubkey: string; x25519Pubkey: string; sealed: string; issuer: string;
}

/** Key epochs: what a sealer vouches for when it hands one member the key of one epoch. */
export interface EpochSealFields {
  meshId: string; scope: string; epoch: number; manifestHash: string; recipient: string; sealer: string; sealed: string;
}
/** Key epochs, shared history: the shared epoch and its manifest, the later epoch that lists the recipient, and the box. */
export interface EpochHistorySealFields {
  meshId: string; scope: string; epoch: number; manifestHash: string; viaEpoch: number; viaManifestHash: string; recipient: string; sealer: string; sealed: string;
}
/** Key epochs: where a message belongs and who wrote it; messageId is the sender's client id. */
export interface EpochMessageFields {
  meshId: string; scope: string; epoch: number; manifestHash: string; sender: string; messageId: string;
  /**
   * The `mesh` scope only: the message's target as sent (`@name` or `*`), so a message cannot be
   * moved to another group or turned into a broadcast. Every `@group` and `*` message carries it;
   * topic messages have none (a target with another scope is E_FIELD_INVALID).
   */
  target?: string;
}

type Field = { name: string; value: unknown; kind: 'text' | 'int' };

const text = (name: string, value: unknown): Field => ({ name, value, kind: 'text' });
const int = (name: string, value: unknown): Field => ({ name, value, kind: 'int' });

/** Line i of the result is field i; a field holding a line break could forge the next field, so refuse it. */
function render(tag: Domain, fields: Field[]): string {
  const lines: string[] = [tag];
  for (const { name, value, kind } of fields) {
    if (kind === 'int') {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
        throw new CryptoError('E_FIELD_INVALID', `${name} must be a non-negative safe integer`);
      }
      lines.push(String(value));
    } else {
      if (typeof value !== 'string') throw new CryptoError('E_FIELD_INVALID', `${name} must be a string`);
      if (/[\r\n]/.test(value)) throw new CryptoError('E_FIELD_INVALID', `${name} must not contain a line break`);
      if (!isWellFormedString(value)) throw new CryptoError('E_FIELD_INVALID', `${name} contains a lone surrogate`);
      lines.push(value);
    }
  }
  return lines.join('\n');
}

export function helloString(f: HelloFields): string {
  return render(DOMAIN.hello, [
    text('meshId', f.meshId), text('memberPubkey', f.memberPubkey), text('sessionPubkey', f.sessionPubkey),
    text('nonce', f.nonce), int('ts', f.ts),
  ]);
}

export function sessionAttestationString(f: SessionAttestationFields): string {
  return render(DOMAIN.session, [
    text('meshId', f.meshId), text('memberPubkey', f.memberPubkey), text('sessionPubkey', f.sessionPubkey),
    int('expiresAt', f.expiresAt),
  ]);
}

export function joinString(f: JoinFields): string {
  return render(DOMAIN.join, [
    text('meshId', f.meshId), text('inviteId', f.inviteId), text('memberPubkey', f.memberPubkey),
    text('displayName', f.displayName), int('ts', f.ts),
  ]);
}

export function meshCreateString(f: MeshCreateFields): string {
  return render(DOMAIN.meshCreate, [
    text('meshId', f.meshId), text('name', f.name), text('ownerPubkey', f.ownerPubkey),
    text('displayName', f.displayName), int('ts', f.ts),
  ]);
}

/** method is uppercased by the caller; path includes the query string exactly as sent. */
export function requestString(f: RequestFields): string {
  return render(DOMAIN.request, [
    text('method', f.method), text('path', f.path), text('meshId', f.meshId), int('ts', f.ts),
    text('bodySha256Hex', f.bodySha256Hex),
  ]);
}

/** The invite is signed as its tag, a newline, then the canonical JSON of the payload. */
export function inviteSignedString(payload: InvitePayload): string {
  return `${DOMAIN.invite}\n${canonicalJson(payload)}`;
}

/**
 * Invites v2: the issuer signs every field the broker stores for a short invite, so a broker that
 * alters role, uses, expiry or the wrapped key is caught by the joiner, who checks this signature.
 */
export function shortInviteString(f: ShortInviteFields): string {
  return render(DOMAIN.shortInvite, [
    text('meshId', f.meshId), text('inviteId', f.inviteId), text('lookup', f.lookup), text('wrappedMeshKey', f.wrappedMeshKey),
    text('role', f.role), int('maxUses', f.maxUses), int('expiresAt', f.expiresAt), text('issuer', f.issuer),
  ]);
}

/** Invites v2: the joiner proves possession of its member key and binds the keys it enrolls to the lookup. */
export function shortInviteClaimString(f: ShortInviteClaimFields): string {
  return render(DOMAIN.shortInviteClaim, [
    text('lookup', f.lookup), text('memberPubkey', f.memberPubkey), text('x25519Pubkey', f.x25519Pubkey),
    text('displayName', f.displayName), text('peerType', f.peerType), int('ts', f.ts),
  ]);
}

/** Email invites: the admin signs the terms it asks the broker to mail (display name may be empty). */
export function emailInviteString(f: EmailInviteFields): string {
  return render(DOMAIN.emailInvite, [
    text('meshId', f.meshId), text('inviteId', f.inviteId), text('email', f.email), text('displayName', f.displayName),
    text('role', f.role), int('expiresAt', f.expiresAt), text('issuer', f.issuer),
  ]);
}

/** Email invites: the joiner's claim, same fields as the short-invite claim under its own tag. */
export function emailInviteClaimString(f: ShortInviteClaimFields): string {
  return render(DOMAIN.emailInviteClaim, [
    text('lookup', f.lookup), text('memberPubkey', f.memberPubkey), text('x25519Pubkey', f.x25519Pubkey),
    text('displayName', f.displayName), text('peerType', f.peerType), int('ts', f.ts),
  ]);
}

/** Email invites: the inviting admin vouches for a mesh key sealed to one joiner's keys. */
export function keyHandoffString(f: KeyHandoffFields): string {
  return render(DOMAIN.keyHandoff, [
    text('meshId', f.meshId), text('inviteId', f.inviteId), text('memberPubkey', f.memberPubkey), text('x25519Pubkey', f.x25519Pubkey),
    text('sealed', f.sealed), text('issuer', f.issuer),
  ]);
}

export interface IdentityClaimFields { meshId: string; placeholder: string; memberPubkey: string }

/**
 * A REST-only human's first keypair replaces its placeholder key (protocol §6.5 "Claiming a key"):
 * signed by the new key, for this mesh and this placeholder only, so it proves the new key is held.
 */
export function identityClaimString(f: IdentityClaimFields): string {
  return render(DOMAIN.identityClaim, [text('meshId', f.meshId), text('placeholder', f.placeholder), text('memberPubkey', f.memberPubkey)]);
}

/** Key epochs: a manifest is signed as its tag, a newline, then its canonical JSON (like an invite). */
export function epochManifestString(manifest: EpochManifest): string {
  return `${DOMAIN.keyEpoch}\n${canonicalJson(manifest)}`;
}

/**
 * Key epochs: the sealer signs the sealed box together with everything that says which key it is
 * (mesh, scope, epoch, manifest) and for whom, so a box cannot be replayed into another epoch,
 * scope or recipient, nor claimed by another sealer.
 */
export function epochSealString(f: EpochSealFields): string {
  return render(DOMAIN.keyEpochSeal, [
    text('meshId', f.meshId), text('scope', f.scope), int('epoch', f.epoch), text('manifestHash', f.manifestHash),
    text('recipient', f.recipient), text('sealer', f.sealer), text('sealed', f.sealed),
  ]);
}

/**
 * Key epochs, shared history: an earlier epoch's key sealed to a member who joined later, signed
 * with the epoch it is shared under (`via`, which lists the recipient and the sealer), so the box
 * cannot pass for an ordinary seal, nor be moved to another epoch, grant, recipient or sealer.
 */
export function epochHistorySealString(f: EpochHistorySealFields): string {
  return render(DOMAIN.keyEpochHistorySeal, [
    text('meshId', f.meshId), text('scope', f.scope), int('epoch', f.epoch), text('manifestHash', f.manifestHash),
    int('viaEpoch', f.viaEpoch), text('viaManifestHash', f.viaManifestHash),
    text('recipient', f.recipient), text('sealer', f.sealer), text('sealed', f.sealed),
  ]);
}

/**
 * Key epochs: a message's associated data. Its UTF-8 bytes are the AEAD's associated data, and the
 * sender signs them followed by a newline, the nonce and the ciphertext.
 */
export function epochMessageString(f: EpochMessageFields): string {
  const fields = [
    text('meshId', f.meshId), text('scope', f.scope), int('epoch', f.epoch), text('manifestHash', f.manifestHash),
    text('sender', f.sender), text('messageId', f.messageId),
  ];
  // A mesh-scope message (`@group`, `*`) ends with its target; a topic message has no such line.
  if (f.target !== undefined) {
    if (f.scope !== 'mesh') throw new CryptoError('E_FIELD_INVALID', 'only a mesh-scope message has a target');
    if (typeof f.target !== 'string' || !MESH_TARGET_RE.test(f.target)) throw new CryptoError('E_FIELD_INVALID', 'target must be @name or *');
    fields.push(text('target', f.target));
  }
  return render(DOMAIN.keyEpochMessage, fields);
}

/** `*` or `@` and a group name: the targets a mesh-scope message can have (protocol §6.1). */
const MESH_TARGET_RE = /^(\*|@[a-z0-9][a-z0-9_-]{0,63})$/;
