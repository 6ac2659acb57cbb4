import { z } from 'zod';
import { DisplayName, EpochMs, MemberRole, PeerType, PubkeyHex, Signature, Uuid } from './primitives.js';
import { MemberInfo } from './server-frames.js';

/** REST bodies under /api/v1. Requests are strict; responses are not. */
export const MeshName = z.string().min(1).max(100).regex(/^[^\r\n]+$/, 'a mesh name is one line');

/**
 * The name in a mesh creation is signed (§4.4: text without lone surrogates) and stored (no NUL in a
 * Postgres text): either would otherwise fail after the schema step, as an internal error.
 */
const NewMeshName = MeshName.refine((s) => !s.includes('\u0000'), 'a mesh name has no NUL character').refine(
  (s) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s),
  'a mesh name is well-formed text (no lone surrogate)',
);

export const CreateMeshBody = z.strictObject({
  mesh_id: Uuid,
  name: NewMeshName,
  owner_pubkey: PubkeyHex,
  display_name: DisplayName,
  peer_type: PeerType.default('ai'),
  ts: EpochMs,
  /** Owner's signature over the mesh-create string. */
  sig: Signature,
});

export const InvitePayloadSchema = z.strictObject({
  v: z.literal(1),
  mesh_id: Uuid,
  mesh_name: MeshName,
  broker_url: z.string().min(1).max(2048).regex(/^[^\r\n]+$/),
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
});
export const MembersResponse = z.object({
  members: z.array(MemberInfo.extend({ revoked: z.boolean(), joined_at: EpochMs })),
});
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** `Authorization: Claudemesh-Sig pubkey=<hex>,ts=<ms>,sig=<b64u>` over the request string. */
export const SIGNED_REQUEST_SCHEME = 'Claudemesh-Sig';
/** `ts` is plain decimal milliseconds (§4.5): an empty, hex or exponent form is a malformed header, not a time. */
export const SignedRequestAuth = z.object({ pubkey: PubkeyHex, ts: z.string().regex(/^(0|[1-9][0-9]{0,15})$/).transform(Number).pipe(EpochMs), sig: Signature });

export function formatSignedRequestAuth(auth: { pubkey: string; ts: number; sig: string }): string {
  return `${SIGNED_REQUEST_SCHEME} pubkey=${auth.pubkey},ts=${auth.ts},sig=${auth.sig}`;
}

export function parseSignedRequestAuth(header: string | undefined): z.output<typeof SignedRequestAuth> | null {
  if (!header?.startsWith(`${SIGNED_REQUEST_SCHEME} `)) return null;
  const fields: Record<string, string> = {};
  for (const part of header.slice(SIGNED_REQUEST_SCHEME.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
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
