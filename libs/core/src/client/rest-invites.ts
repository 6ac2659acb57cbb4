// The REST calls for short invite codes, email invites and the mesh-key hand-over that goes with them
// (docs/protocol.md §8; docs/cli.md "Email invites"); the signed invite link's calls are in rest-client.ts.
import {
  createEmailInvite,
  createKeyHandoff,
  createShortInvite,
  type CreateShortInviteOptions,
  deriveEmailInviteLookup,
  emailInviteClaimString,
  openKeyHandoff,
  verifyEmailInviteSignature,
  type EmailInviteRecord,
  deriveInviteLookup,
  encodeShortInviteLink,
  openShortInvite,
  sealOpen,
  shortInviteClaimString,
  sign,
  toB64u,
  utf8Decode,
  type Identity,
  type InviteRole,
  type ShortInviteRecord,
} from '@claudemesh/crypto';
import { ProtocolError } from '../protocol/v1/errors.js';
import type { PeerType } from '../protocol/v1/primitives.js';
import {
  ShortInviteClaimResult,
  type EmailInviteClaimResponse,
  type EmailInviteResolveResponse,
  type EmailInviteResponse,
  type EmailInvitesResponse,
  type KeyHandoffResponse,
  type KeyHandoffStored,
  type KeyRequest,
  type KeyRequestsResponse,
  type InviteResponse,
  type ShortInviteClaimResponse,
  type ShortInviteResolveResponse,
} from '../protocol/v1/rest.js';
import { call, signedRequest } from './rest-call.js';

/** What an issuer chooses of a short invite (the mesh key leaves this process only wrapped under the code). */
export type IssueShortInviteOptions = Pick<CreateShortInviteOptions, 'meshId' | 'meshKey' | 'issuer' | 'role' | 'ttlMs' | 'maxUses'>;

export interface IssuedShortInvite {
  /** Canonical code (16 characters); show it grouped with formatInviteCode. */
  code: string;
  /** `<broker>/i/ABCD-EFGH-JKLM-NPQR`. */
  link: string;
  record: ShortInviteRecord;
  registered: InviteResponse;
}

/** Invites v2: makes a code, wraps the mesh key under it and registers the signed record. The code is never sent. */
export async function issueShortInvite(base: string, opts: IssueShortInviteOptions): Promise<IssuedShortInvite> {
  const { code, record } = createShortInvite({
    meshId: opts.meshId,
    meshKey: opts.meshKey,
    issuer: opts.issuer,
    ...(opts.role ? { role: opts.role } : {}),
    ...(opts.ttlMs ? { ttlMs: opts.ttlMs } : {}),
    ...(opts.maxUses ? { maxUses: opts.maxUses } : {}),
  });
  const registered = await signedRequest<InviteResponse>(base, opts.issuer, opts.meshId, 'POST', `/api/v1/meshes/${opts.meshId}/invites/v2`, record);
  return { code, link: encodeShortInviteLink(base, code), record, registered };
}

/** Which mesh a code is for (sends only the lookup). The joiner needs the mesh id to derive its member key. */
export function resolveShortInvite(base: string, code: string): Promise<ShortInviteResolveResponse> {
  return call<ShortInviteResolveResponse>(base, 'POST', '/api/v1/invites/v2/resolve', { lookup: deriveInviteLookup(code) });
}

export interface ClaimShortInviteOptions {
  code: string;
  identity: Identity;
  displayName: string;
  peerType?: PeerType;
  /** When given, the claim result must be for this mesh (the one resolveShortInvite named). */
  expectMeshId?: string;
  /** When given, the signed record must be issued by this key (the inviter resolveShortInvite named). */
  expectIssuer?: string;
}

export type ClaimedShortInvite = ShortInviteClaimResult & { meshKey: Uint8Array };

/**
 * Invites v2 enrollment: sends the lookup and a claim signed by the new member key, opens the sealed
 * answer, checks the issuer's signature and opens the wrapped mesh key with the code. A broker that
 * altered anything is caught here (E_INVITE_INVALID), after which the mesh key is not trusted.
 */
export async function claimShortInvite(base: string, opts: ClaimShortInviteOptions): Promise<ClaimedShortInvite> {
  const lookup = deriveInviteLookup(opts.code);
  const x25519 = toB64u(opts.identity.boxPublicKey);
  const peerType = opts.peerType ?? 'ai';
  const ts = Date.now();
  const sig = sign(
    shortInviteClaimString({ lookup, memberPubkey: opts.identity.publicKey, x25519Pubkey: x25519, displayName: opts.displayName, peerType, ts }),
    opts.identity.secretKey,
  );
  const { sealed } = await call<ShortInviteClaimResponse>(base, 'POST', '/api/v1/invites/v2/claim', {
    lookup,
    member_pubkey: opts.identity.publicKey,
    x25519_pubkey: x25519,
    display_name: opts.displayName,
    peer_type: peerType,
    ts,
    sig,
  });
  return openClaim(opts, sealed);
}

function openClaim(opts: ClaimShortInviteOptions, sealed: string): ClaimedShortInvite {
  const untrusted = (why: string): ProtocolError => new ProtocolError('E_INVITE_INVALID', `the broker's answer to the claim ${why}`);
  let parsed: ReturnType<typeof ShortInviteClaimResult.safeParse>;
  try {
    parsed = ShortInviteClaimResult.safeParse(JSON.parse(utf8Decode(sealOpen(sealed, opts.identity))));
  } catch {
    throw untrusted('does not open with your key');
  }
  if (!parsed.success) throw untrusted('is malformed');
  const result = parsed.data;
  if (result.invite.mesh_id !== result.mesh_id || (opts.expectMeshId !== undefined && result.mesh_id !== opts.expectMeshId)) throw untrusted('names another mesh');
  if (result.member.member_pubkey !== opts.identity.publicKey) throw untrusted('enrolled another key');
  if (opts.expectIssuer !== undefined && result.invite.issuer !== opts.expectIssuer) throw untrusted('is an invite from someone else than the inviter it named');
  let meshKey: Uint8Array;
  try {
    meshKey = openShortInvite(opts.code, result.invite);
  } catch (error) {
    throw untrusted(`does not verify: ${(error as Error).message.replace(/^E_INVITE_INVALID: /, '')}`);
  }
  return { ...result, meshKey };
}

export function revokeShortInvite(base: string, admin: Identity, meshId: string, inviteId: string): Promise<InviteResponse> {
  return signedRequest<InviteResponse>(base, admin, meshId, 'POST', `/api/v1/meshes/${meshId}/invites/v2/${inviteId}/revoke`, {});
}

export interface SendEmailInviteOptions {
  meshId: string;
  issuer: Identity;
  email: string;
  /** The display name suggested to the joiner in the mail. */
  displayName?: string;
  role?: InviteRole;
  ttlMs?: number;
}

/** Email invites (§9c): signs the terms and asks the broker to mail a code it makes. No key leaves this process. */
export async function sendEmailInvite(base: string, opts: SendEmailInviteOptions): Promise<{ record: EmailInviteRecord; sent: EmailInviteResponse }> {
  const record = createEmailInvite({
    meshId: opts.meshId,
    email: opts.email,
    issuer: opts.issuer,
    ...(opts.displayName ? { displayName: opts.displayName } : {}),
    ...(opts.role ? { role: opts.role } : {}),
    ...(opts.ttlMs ? { ttlMs: opts.ttlMs } : {}),
  });
  const sent = await signedRequest<EmailInviteResponse>(base, opts.issuer, opts.meshId, 'POST', `/api/v1/meshes/${opts.meshId}/invites/email`, record);
  return { record, sent };
}

/** Checks the invite the broker returns: signed by its issuer, and by the admin the mailed link names (when it names one). */
function checkEmailInvite(invite: EmailInviteRecord, meshId: string, issuer: string | undefined): void {
  if (!verifyEmailInviteSignature(invite)) throw new ProtocolError('E_INVITE_INVALID', 'the email invite is not signed by its issuer');
  if (invite.mesh_id !== meshId) throw new ProtocolError('E_INVITE_INVALID', 'the email invite names another mesh');
  if (issuer !== undefined && invite.issuer !== issuer) throw new ProtocolError('E_INVITE_INVALID', 'the email invite was not issued by the admin the link names');
}

/** Which mesh a mailed code is for (sends only its lookup), with the invite checked against the link's admin. */
export async function resolveEmailInvite(base: string, code: string, issuer?: string): Promise<EmailInviteResolveResponse> {
  const resolved = await call<EmailInviteResolveResponse>(base, 'POST', '/api/v1/invites/email/resolve', { lookup: deriveEmailInviteLookup(code) });
  checkEmailInvite(resolved.invite, resolved.mesh_id, issuer);
  return resolved;
}

export interface ClaimEmailInviteOptions {
  code: string;
  identity: Identity;
  displayName: string;
  peerType?: PeerType;
  /** The inviting admin's member key from the link: the invite must be theirs. */
  issuer?: string;
}

/** Enrolls a member key with a mailed code. The answer carries no key: the mesh key comes by handoff (fetchKeyHandoff). */
export async function claimEmailInvite(base: string, opts: ClaimEmailInviteOptions): Promise<EmailInviteClaimResponse> {
  const lookup = deriveEmailInviteLookup(opts.code);
  const x25519 = toB64u(opts.identity.boxPublicKey);
  const peerType = opts.peerType ?? 'ai';
  const ts = Date.now();
  const sig = sign(
    emailInviteClaimString({ lookup, memberPubkey: opts.identity.publicKey, x25519Pubkey: x25519, displayName: opts.displayName, peerType, ts }),
    opts.identity.secretKey,
  );
  const claimed = await call<EmailInviteClaimResponse>(base, 'POST', '/api/v1/invites/email/claim', {
    lookup, member_pubkey: opts.identity.publicKey, x25519_pubkey: x25519, display_name: opts.displayName, peer_type: peerType, ts, sig,
  });
  checkEmailInvite(claimed.invite, claimed.mesh_id, opts.issuer);
  if (claimed.member.member_pubkey !== opts.identity.publicKey) throw new ProtocolError('E_INVITE_INVALID', "the broker's answer to the claim enrolled another key");
  return claimed;
}

export function listKeyRequests(base: string, admin: Identity, meshId: string): Promise<KeyRequestsResponse> {
  return signedRequest<KeyRequestsResponse>(base, admin, meshId, 'GET', `/api/v1/meshes/${meshId}/key-requests`);
}

/**
 * Seals the mesh key to a member admitted by one of *our* email invites and signs it. A request for
 * an invite we did not sign, or claimed after it expired, is refused here whatever the broker says.
 */
export async function handOverMeshKey(base: string, admin: Identity, meshId: string, request: KeyRequest, meshKey: Uint8Array): Promise<KeyHandoffStored> {
  const inv = request.invite;
  if (inv.issuer !== admin.publicKey) throw new ProtocolError('E_FORBIDDEN', 'only the admin who sent an email invite hands over its key');
  if (!verifyEmailInviteSignature(inv) || inv.mesh_id !== meshId || inv.invite_id !== request.invite_id) throw new ProtocolError('E_INVITE_INVALID', 'the key request is not for an invite this admin signed');
  if (request.claimed_at >= inv.expires_at) throw new ProtocolError('E_INVITE_EXPIRED', 'the invite was claimed after it expired');
  const member = request.member.member_pubkey;
  const handoff = createKeyHandoff({ meshId, inviteId: inv.invite_id, memberPubkey: member }, meshKey, admin);
  return signedRequest<KeyHandoffStored>(base, admin, meshId, 'POST', `/api/v1/meshes/${meshId}/key-requests/${member}`, { invite_id: inv.invite_id, ...handoff });
}

/**
 * The joiner's side: the mesh key once the inviting admin handed it over, else null. The handoff must
 * be signed by `expect.issuer` (the admin the link named) for this invite and member, or E_INVITE_INVALID.
 */
export async function fetchKeyHandoff(base: string, identity: Identity, meshId: string, expect: { inviteId: string; issuer: string }): Promise<Uint8Array | null> {
  const h = await signedRequest<KeyHandoffResponse>(base, identity, meshId, 'GET', `/api/v1/meshes/${meshId}/key-handoff`);
  if (h.invite_id !== expect.inviteId || h.issuer !== expect.issuer) throw new ProtocolError('E_INVITE_INVALID', 'the broker answered with a handoff for another invite or admin');
  if (h.sealed === null || h.sig === null) return null;
  try {
    return openKeyHandoff({ sealed: h.sealed, sig: h.sig }, { meshId, inviteId: expect.inviteId, issuer: expect.issuer }, identity);
  } catch (error) {
    throw new ProtocolError('E_INVITE_INVALID', `the key handoff does not verify: ${(error as Error).message.replace(/^E_INVITE_INVALID: /, '')}`);
  }
}

/** The mesh's email invites, oldest first (owner or admin). */
export function listEmailInvites(base: string, admin: Identity, meshId: string): Promise<EmailInvitesResponse> {
  return signedRequest<EmailInvitesResponse>(base, admin, meshId, 'GET', `/api/v1/meshes/${meshId}/invites/email`);
}

export function revokeEmailInvite(base: string, admin: Identity, meshId: string, inviteId: string): Promise<{ invite_id: string; revoked: boolean }> {
  return signedRequest(base, admin, meshId, 'POST', `/api/v1/meshes/${meshId}/invites/email/${inviteId}/revoke`, {});
}
