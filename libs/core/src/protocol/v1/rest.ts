import { z } from 'zod';
import { MemberScope } from './api.js';
import { DisplayName, EpochMs, MemberRole, NonEmptyB64u, PeerType, PubkeyHex, Signature, Uuid, b64uBytes, freeText } from './primitives.js';
import { EpochRotate } from './epochs.js';
import { MemberInfo } from './server-frames.js';

/** REST bodies under /api/v1. Requests are strict; responses are not. */
/** Free text on one line: signed (§4.4 refuses line breaks) and stored (no NUL in a Postgres text). */
export const MeshName = freeText(1, 100).regex(/^[^\r\n]+$/, 'a mesh name is one line');

export const CreateMeshBody = z.strictObject({
  mesh_id: Uuid,
  name: MeshName,
  owner_pubkey: PubkeyHex,
  display_name: DisplayName,
  peer_type: PeerType.default('ai'),
  ts: EpochMs,
  /** Owner's signature over the mesh-create string. */
  sig: Signature,
  /**
   * How #general is created (docs/topics.md "Encryption"): `e2e` when absent, keyed by the first
   * member client that posts in it; `plaintext` for a mesh whose #general is read and posted over
   * plain REST. Not part of the signed string: like any topic's mode, it is public and fixed.
   */
  general: z.enum(['e2e', 'plaintext']).optional(),
});

export const InvitePayloadSchema = z.strictObject({
  v: z.literal(1),
  mesh_id: Uuid,
  mesh_name: MeshName,
  broker_url: freeText(1, 2048).regex(/^[^\r\n]+$/, 'a broker URL is one line'),
  invite_id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  role: z.enum(['member', 'admin']),
  issuer: PubkeyHex,
  created_at: EpochMs,
  expires_at: EpochMs,
  max_uses: z.number().int().min(1).max(1_000_000),
});

export const SignedInviteBody = z.strictObject({ payload: InvitePayloadSchema, sig: Signature });

export const JoinBody = z.strictObject({
  invite: SignedInviteBody,
  member_pubkey: PubkeyHex,
  display_name: DisplayName,
  peer_type: PeerType.default('ai'),
  ts: EpochMs,
  /** Joiner's signature over the join string: proves possession of the member key. */
  sig: Signature,
});

export const MeshResponse = z.object({ mesh_id: Uuid, name: MeshName, owner: MemberInfo, created_at: EpochMs });
export const JoinResponse = z.object({ mesh_id: Uuid, mesh_name: MeshName, member: MemberInfo, rejoined: z.boolean() });
export const InviteResponse = z.object({
  invite_id: z.string(),
  mesh_id: Uuid,
  role: z.enum(['member', 'admin']),
  max_uses: z.number().int(),
  uses: z.number().int(),
  expires_at: EpochMs,
  revoked: z.boolean(),
  /** 2 for a short invite (§9b); absent for a v1 signed invite. */
  version: z.literal(2).optional(),
});
export const MembersResponse = z.object({
  /** `scope`: null, or what the member is confined to (§8.3 MemberScope). */
  members: z.array(MemberInfo.extend({ revoked: z.boolean(), joined_at: EpochMs, scope: MemberScope.nullable().optional() })),
});
/** PATCH /api/v1/meshes/:meshId/members/me: the calling member takes another display name (§8.3). */
export const RenameMemberBody = z.strictObject({ display_name: DisplayName });
/* Invites v2, short codes (§9b). The broker sees lookups and wrapped keys, never a code or a mesh key. */

export const InviteId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'expected 8–64 url-safe chars');
/** HMAC-SHA256 of the code: 32 bytes, base64url. */
export const InviteLookup = b64uBytes(32);
/** A member's x25519 public key (its ed25519 key converted), 32 bytes base64url. */
export const X25519Pubkey = b64uBytes(32);
/** nonce (24 bytes) ‖ secretbox under the code's wrap key; at least nonce and MAC. */
export const WrappedMeshKey = b64uBytes({ min: 40, max: 768 });

const shortInviteShape = {
  mesh_id: Uuid,
  invite_id: InviteId,
  lookup: InviteLookup,
  wrapped_mesh_key: WrappedMeshKey,
  role: z.enum(['member', 'admin']),
  max_uses: z.number().int().min(1).max(1_000_000),
  expires_at: EpochMs,
  issuer: PubkeyHex,
  /** The issuer's signature over the short-invite string (§9b.3). */
  sig: Signature,
};

/** POST /meshes/:meshId/invites/v2: the signed record an owner or admin registers. */
export const ShortInviteBody = z.strictObject(shortInviteShape);
/** The same record as the broker hands it back inside a claim result (responses are open). */
export const ShortInviteRecordSchema = z.object(shortInviteShape);

/** POST /invites/v2/resolve: which mesh a code is for, so the joiner can derive its member key first. */
export const ShortInviteResolveBody = z.strictObject({ lookup: InviteLookup });
export const ShortInviteResolveResponse = z.object({
  mesh_id: Uuid,
  mesh_name: MeshName,
  role: z.enum(['member', 'admin']),
  expires_at: EpochMs,
  /** Who issued it (the record's `issuer`) and its display name now: shown to the joiner before it joins. */
  inviter: z.object({ member_pubkey: PubkeyHex, display_name: DisplayName }),
});

/** POST /invites/v2/claim: enrollment with a code, signed by the new member key. */
export const ShortInviteClaimBody = z.strictObject({
  lookup: InviteLookup,
  member_pubkey: PubkeyHex,
  x25519_pubkey: X25519Pubkey,
  display_name: DisplayName,
  peer_type: PeerType.default('ai'),
  ts: EpochMs,
  /** Joiner's signature over the claim string (§9b.4). */
  sig: Signature,
});
/** The claim answer: a sealed box (crypto_box_seal) to the joiner's x25519 key holding a ShortInviteClaimResult. */
export const ShortInviteClaimResponse = z.object({ sealed: NonEmptyB64u });
export const ShortInviteClaimResult = z.object({
  mesh_id: Uuid,
  mesh_name: MeshName,
  member: MemberInfo,
  rejoined: z.boolean(),
  invite: ShortInviteRecordSchema,
});

/* Email invites and key handoff (§9c). The broker mails a code it made; the mesh key comes later, sealed by the inviting admin. */

/** One address, no display part: what the broker puts in `To` (no spaces, quotes, brackets or line breaks). */
export const EmailAddress = z
  .string()
  .max(254)
  .regex(
    /^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}(?<!\.)@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/,
    'expected an email address like name@example.com',
  );
/** A sealed box (crypto_box_seal) holding the handed-over mesh key: 48 bytes of overhead plus a small JSON object. */
export const SealedBox = b64uBytes({ min: 48, max: 1536 });

const emailInviteShape = {
  mesh_id: Uuid,
  invite_id: InviteId,
  email: EmailAddress,
  /** The display name suggested to the joiner (shown in the mail; not binding). */
  display_name: DisplayName.optional(),
  role: z.enum(['member', 'admin']),
  expires_at: EpochMs,
  issuer: PubkeyHex,
  /** The issuer's signature over the email-invite string (§9c.3). */
  sig: Signature,
};

/** POST /meshes/:meshId/invites/email: the signed terms an owner or admin asks the broker to mail. */
export const EmailInviteBody = z.strictObject(emailInviteShape);
export const EmailInviteRecordSchema = z.object(emailInviteShape);
/** The answer to the inviting admin: never the code. */
export const EmailInviteResponse = z.object({ invite_id: InviteId, mesh_id: Uuid, email: EmailAddress, role: z.enum(['member', 'admin']), expires_at: EpochMs });
/** GET …/invites/email: one email invite as its owner or admins see it (never the code or its lookup). */
export const EmailInviteInfo = EmailInviteResponse.extend({
  issuer: PubkeyHex,
  created_at: EpochMs,
  /** The mail transport accepted it (false: sending failed, and it admits no one). */
  sent: z.boolean(),
  revoked: z.boolean(),
  /** The member it admitted, once claimed. */
  member_pubkey: PubkeyHex.nullable(),
});
export const EmailInvitesResponse = z.object({ invites: z.array(EmailInviteInfo) });

/** POST /invites/email/resolve: the mailed code's lookup → the mesh and the signed invite. */
export const EmailInviteResolveBody = z.strictObject({ lookup: InviteLookup });
export const EmailInviteResolveResponse = z.object({
  mesh_id: Uuid,
  mesh_name: MeshName,
  inviter: z.object({ member_pubkey: PubkeyHex, display_name: DisplayName }),
  claimed: z.boolean(),
  invite: EmailInviteRecordSchema,
});

/** POST /invites/email/claim: enrollment with the mailed code, signed by the new member key. */
export const EmailInviteClaimBody = z.strictObject({
  lookup: InviteLookup,
  member_pubkey: PubkeyHex,
  x25519_pubkey: X25519Pubkey,
  display_name: DisplayName,
  peer_type: PeerType.default('ai'),
  ts: EpochMs,
  /** Joiner's signature over the email-invite-claim string (§9c.3). */
  sig: Signature,
});
export const EmailInviteClaimResponse = z.object({
  mesh_id: Uuid,
  mesh_name: MeshName,
  member: MemberInfo,
  rejoined: z.boolean(),
  invite: EmailInviteRecordSchema,
});

/** GET /meshes/:meshId/key-requests: members admitted by an email invite whose mesh key is still to hand over. */
export const KeyRequest = z.object({
  invite_id: InviteId,
  member: MemberInfo,
  x25519_pubkey: X25519Pubkey,
  claimed_at: EpochMs,
  invite: EmailInviteRecordSchema,
});
export const KeyRequestsResponse = z.object({ requests: z.array(KeyRequest) });

/** POST /meshes/:meshId/key-requests/:memberPubkey: the inviting admin's sealed, signed mesh key. */
export const KeyHandoffBody = z.strictObject({ invite_id: InviteId, sealed: SealedBox, sig: Signature });
export const KeyHandoffStored = z.object({ invite_id: InviteId, member_pubkey: PubkeyHex, handed_over_at: EpochMs });

/** GET /meshes/:meshId/key-handoff: the joiner's own handoff, or nulls while it is pending. */
export const KeyHandoffResponse = z.object({
  invite_id: InviteId,
  issuer: PubkeyHex,
  sealed: SealedBox.nullable(),
  sig: Signature.nullable(),
  handed_over_at: EpochMs.nullable(),
});

/**
 * Every REST failure; `retry_after_ms` (also sent as `Retry-After` in seconds) when a rate limit says
 * when to retry; `current_epoch` and `rotate` with the epoch codes, as in the error frame (§5.6).
 */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    retry_after_ms: z.number().int().nonnegative().optional(),
    current_epoch: z.number().int().nonnegative().optional(),
    rotate: EpochRotate.optional(),
  }),
});

/** `Authorization: Claudemesh-Sig pubkey=<hex>,ts=<ms>,sig=<b64u>` over the request string. */
export const SIGNED_REQUEST_SCHEME = 'Claudemesh-Sig';
/** `ts` is plain decimal milliseconds (§4.5): an empty, hex or exponent form is a malformed header, not a time. */
export const SignedRequestAuth = z.object({ pubkey: PubkeyHex, ts: z.string().regex(/^(0|[1-9][0-9]{0,15})$/).transform(Number).pipe(EpochMs), sig: Signature });

export function formatSignedRequestAuth(auth: { pubkey: string; ts: number; sig: string }): string {
  return `${SIGNED_REQUEST_SCHEME} pubkey=${auth.pubkey},ts=${auth.ts},sig=${auth.sig}`;
}

/**
 * The credentials of an `Authorization` header in `scheme`, or null. HTTP auth schemes are
 * case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer` and `BEARER` are one scheme. One or more
 * spaces separate the scheme from its credentials.
 */
export function authorizationCredentials(header: string | undefined, scheme: string): string | null {
  const match = header === undefined ? null : /^([^ ]+) +(.*)$/.exec(header);
  if (!match || match[1]!.toLowerCase() !== scheme.toLowerCase()) return null;
  return match[2]!.trim();
}

/**
 * Parses `Claudemesh-Sig pubkey=…,ts=…,sig=…` (§8.1): the scheme and the parameter names in any
 * case, the pairs in any order, spaces around them ignored, unknown names ignored; a name given
 * twice makes the header malformed (two readers could pick different ones).
 */
export function parseSignedRequestAuth(header: string | undefined): z.output<typeof SignedRequestAuth> | null {
  const credentials = authorizationCredentials(header, SIGNED_REQUEST_SCHEME);
  if (credentials === null) return null;
  const fields: Record<string, string> = {};
  for (const part of credentials.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (Object.hasOwn(fields, name)) return null;
    fields[name] = part.slice(eq + 1).trim();
  }
  const parsed = SignedRequestAuth.safeParse(fields);
  return parsed.success ? parsed.data : null;
}

export type CreateMeshBody = z.output<typeof CreateMeshBody>;
export type JoinBody = z.output<typeof JoinBody>;
export type SignedInviteBody = z.output<typeof SignedInviteBody>;
export type MemberRoleT = z.output<typeof MemberRole>;
export type MeshResponse = z.output<typeof MeshResponse>;
export type JoinResponse = z.output<typeof JoinResponse>;
export type InviteResponse = z.output<typeof InviteResponse>;
export type MembersResponse = z.output<typeof MembersResponse>;
export type RenameMemberBody = z.output<typeof RenameMemberBody>;
export type ShortInviteBody = z.output<typeof ShortInviteBody>;
export type ShortInviteResolveBody = z.output<typeof ShortInviteResolveBody>;
export type ShortInviteResolveResponse = z.output<typeof ShortInviteResolveResponse>;
export type ShortInviteClaimBody = z.output<typeof ShortInviteClaimBody>;
export type ShortInviteClaimResponse = z.output<typeof ShortInviteClaimResponse>;
export type ShortInviteClaimResult = z.output<typeof ShortInviteClaimResult>;
export type EmailInviteBody = z.output<typeof EmailInviteBody>;
export type EmailInviteResponse = z.output<typeof EmailInviteResponse>;
export type EmailInviteInfo = z.output<typeof EmailInviteInfo>;
export type EmailInvitesResponse = z.output<typeof EmailInvitesResponse>;
export type EmailInviteResolveResponse = z.output<typeof EmailInviteResolveResponse>;
export type EmailInviteClaimBody = z.output<typeof EmailInviteClaimBody>;
export type EmailInviteClaimResponse = z.output<typeof EmailInviteClaimResponse>;
export type KeyRequest = z.output<typeof KeyRequest>;
export type KeyRequestsResponse = z.output<typeof KeyRequestsResponse>;
export type KeyHandoffBody = z.output<typeof KeyHandoffBody>;
export type KeyHandoffStored = z.output<typeof KeyHandoffStored>;
export type KeyHandoffResponse = z.output<typeof KeyHandoffResponse>;
