import {
  createEmailInvite,
  createInvite,
  createKeyHandoff,
  createShortInvite,
  deriveEmailInviteLookup,
  emailInviteClaimString,
  openKeyHandoff,
  verifyEmailInviteSignature,
  type EmailInviteRecord,
  deriveInviteLookup,
  encodeShortInviteLink,
  joinString,
  meshCreateString,
  openShortInvite,
  requestString,
  sealOpen,
  sha256Hex,
  shortInviteClaimString,
  sign,
  toB64u,
  utf8Decode,
  type Identity,
  type InviteRole,
  type ShortInviteRecord,
  type SignedInvite,
} from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { newWebSignInCode, openWebSignIn, sealWebSignIn, webSignInLink, webSignInLookup } from '../web/web-signin.js';
import { ProtocolError, isErrorCode } from '../protocol/v1/errors.js';
import type { PeerType } from '../protocol/v1/primitives.js';
import type { MemberInfo } from '../protocol/v1/server-frames.js';
import type { MemberScope } from '../protocol/v1/api.js';
import type { AnalyticsBucket, AnalyticsWindow, MeshAnalytics } from '../protocol/v1/analytics.js';
import {
  ShortInviteClaimResult,
  SignedInviteBody,
  formatSignedRequestAuth,
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
  type JoinResponse,
  type MembersResponse,
  type MeshResponse,
} from '../protocol/v1/rest.js';

/** The broker's HTTP base (http://host:port) from either its ws:// or http:// URL. */
export function httpBaseOf(brokerUrl: string): string {
  const url = new URL(brokerUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  return url.origin;
}

export function wsUrlOf(brokerUrl: string): string {
  const url = new URL(brokerUrl);
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  return `${url.origin}/ws`;
}

async function call<T>(base: string, method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(`${httpBaseOf(base)}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  const json: unknown = text ? JSON.parse(text) : {};
  if (!res.ok) {
    const err = (json as { error?: { code?: unknown; message?: unknown } }).error;
    const code = isErrorCode(err?.code) ? err.code : 'E_INTERNAL';
    throw new ProtocolError(code, typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`);
  }
  return json as T;
}

let lastRequestTs = 0;

/**
 * A signed request's `ts`: now, but strictly later than the last one this process signed. The
 * broker refuses a request it already received (E_REPLAY, protocol §8.1), and two identical
 * requests signed in the same millisecond would be byte for byte the same.
 */
export function nextRequestTs(now = Date.now()): number {
  lastRequestTs = Math.max(now, lastRequestTs + 1);
  return lastRequestTs;
}

/** A request signed by a member key (REST auth for member and admin routes). Each call signs anew, so a retry is never a replay. */
export function signedRequest<T>(base: string, identity: Identity, meshId: string, method: string, path: string, body?: unknown): Promise<T> {
  const raw = body === undefined ? '' : JSON.stringify(body);
  const ts = nextRequestTs();
  const sig = sign(requestString({ method, path, meshId, ts, bodySha256Hex: sha256Hex(raw) }), identity.secretKey);
  return call<T>(base, method, path, body === undefined ? undefined : raw, {
    authorization: formatSignedRequestAuth({ pubkey: identity.publicKey, ts, sig }),
  });
}

export interface CreateMeshOptions {
  name: string;
  owner: Identity;
  displayName: string;
  peerType?: PeerType;
  adminToken?: string;
  meshId?: string;
  /** #general's mode (docs/topics.md "Encryption"): e2e when absent; plaintext for a mesh whose #general curl and integrations post to. */
  general?: 'e2e' | 'plaintext';
}

export function createMesh(base: string, opts: CreateMeshOptions): Promise<MeshResponse> {
  const meshId = opts.meshId ?? randomUUID();
  const ts = Date.now();
  const sig = sign(
    meshCreateString({ meshId, name: opts.name, ownerPubkey: opts.owner.publicKey, displayName: opts.displayName, ts }),
    opts.owner.secretKey,
  );
  return call<MeshResponse>(
    base,
    'POST',
    '/api/v1/meshes',
    {
      mesh_id: meshId, name: opts.name, owner_pubkey: opts.owner.publicKey, display_name: opts.displayName, peer_type: opts.peerType ?? 'ai', ts, sig,
      ...(opts.general ? { general: opts.general } : {}),
    },
    opts.adminToken ? { authorization: `Bearer ${opts.adminToken}` } : {},
  );
}

export interface IssueInviteOptions {
  meshId: string;
  meshName: string;
  brokerUrl: string;
  issuer: Identity;
  role?: InviteRole;
  ttlMs?: number;
  maxUses?: number;
}

/** Signs an invite and registers it with the broker so it can be counted and revoked. */
export async function issueInvite(base: string, opts: IssueInviteOptions): Promise<{ invite: SignedInvite; registered: InviteResponse }> {
  const invite = createInvite({
    meshId: opts.meshId,
    meshName: opts.meshName,
    brokerUrl: opts.brokerUrl,
    issuer: opts.issuer,
    ...(opts.role ? { role: opts.role } : {}),
    ...(opts.ttlMs ? { ttlMs: opts.ttlMs } : {}),
    ...(opts.maxUses ? { maxUses: opts.maxUses } : {}),
  });
  const registered = await signedRequest<InviteResponse>(base, opts.issuer, opts.meshId, 'POST', `/api/v1/meshes/${opts.meshId}/invites`, invite);
  return { invite, registered };
}

/** The mesh's v1 and short invites, oldest first (owner or admin; email invites are not listed). */
export function listInvites(base: string, admin: Identity, meshId: string): Promise<{ invites: InviteResponse[] }> {
  return signedRequest<{ invites: InviteResponse[] }>(base, admin, meshId, 'GET', `/api/v1/meshes/${meshId}/invites`);
}

export function revokeInvite(base: string, admin: Identity, meshId: string, inviteId: string): Promise<InviteResponse> {
  return signedRequest<InviteResponse>(base, admin, meshId, 'POST', `/api/v1/meshes/${meshId}/invites/${inviteId}/revoke`, {});
}

export interface JoinOptions {
  invite: SignedInvite;
  identity: Identity;
  displayName: string;
  peerType?: PeerType;
}

/** Enrolls a member key with an invite. The mesh key in the invite link never goes to the broker. */
export function joinMesh(base: string, opts: JoinOptions): Promise<JoinResponse> {
  // The signature layer takes any mesh id; the wire wants a UUID and the rest of §9.1 (protocol.md):
  // an invite that cannot be a v1 invite is refused before its broker is contacted.
  const wire = SignedInviteBody.safeParse(opts.invite);
  if (!wire.success) {
    const issue = wire.error.issues[0];
    return Promise.reject(new ProtocolError('E_INVITE_INVALID', `this invite does not fit protocol v1: ${issue?.path.join('.') ?? 'invite'}: ${issue?.message ?? 'invalid'}`));
  }
  const ts = Date.now();
  const meshId = opts.invite.payload.mesh_id;
  const sig = sign(
    joinString({ meshId, inviteId: opts.invite.payload.invite_id, memberPubkey: opts.identity.publicKey, displayName: opts.displayName, ts }),
    opts.identity.secretKey,
  );
  return call<JoinResponse>(base, 'POST', '/api/v1/join', {
    invite: { payload: opts.invite.payload, sig: opts.invite.sig },
    member_pubkey: opts.identity.publicKey,
    display_name: opts.displayName,
    peer_type: opts.peerType ?? 'ai',
    ts,
    sig,
  });
}

export function listMembers(base: string, identity: Identity, meshId: string): Promise<MembersResponse> {
  return signedRequest<MembersResponse>(base, identity, meshId, 'GET', `/api/v1/meshes/${meshId}/members`);
}

/** Gives the calling member another display name in the mesh (protocol §8.3, RenameMemberBody). */
export function renameMember(base: string, identity: Identity, meshId: string, displayName: string): Promise<MemberInfo> {
  return signedRequest<MemberInfo>(base, identity, meshId, 'PATCH', `/api/v1/meshes/${meshId}/members/me`, { display_name: displayName });
}

/**
 * Sets (or, with `null`, lifts) a member's scope (protocol §8.3, SetMemberScopeBody): a member may
 * narrow its own; an owner or admin sets anyone's but the owner's.
 */
export function setMemberScope(base: string, identity: Identity, meshId: string, memberPubkey: string, scope: MemberScope | null): Promise<MemberInfo & { scope: MemberScope | null }> {
  return signedRequest(base, identity, meshId, 'PUT', `/api/v1/meshes/${meshId}/members/${memberPubkey}/scope`, { scope });
}

export function revokeMember(base: string, admin: Identity, meshId: string, memberPubkey: string): Promise<{ revoked: boolean }> {
  return signedRequest(base, admin, meshId, 'POST', `/api/v1/meshes/${meshId}/members/${memberPubkey}/revoke`, {});
}

export interface IssueShortInviteOptions {
  meshId: string;
  /** The mesh key to hand over; it leaves this process only wrapped under the code. */
  meshKey: Uint8Array;
  issuer: Identity;
  role?: InviteRole;
  ttlMs?: number;
  maxUses?: number;
}

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

export interface WebSignIn {
  /** Open it in a browser: the broker's origin, the app, the code in the fragment (never sent to a server). */
  link: string;
  code: string;
  expires_at: number;
}

/**
 * A one-time web sign-in link for `apiKey` (docs/protocol.md §8.5): the key seals itself under a
 * fresh code and deposits the sealed copy under the code's lookup, as that key. The broker never
 * holds the code, so never a usable copy of the key.
 */
export async function createWebSignIn(base: string, apiKey: string, opts: { ttlS?: number } = {}): Promise<WebSignIn> {
  const code = newWebSignInCode();
  const body = { lookup: await webSignInLookup(code), sealed: await sealWebSignIn(code, apiKey), ...(opts.ttlS !== undefined ? { expires_in_s: opts.ttlS } : {}) };
  const created = await call<{ expires_at: number }>(base, 'POST', '/api/v1/web/signins', body, { authorization: `Bearer ${apiKey}` });
  return { link: webSignInLink(httpBaseOf(base), code), code, expires_at: created.expires_at };
}

/** What the web app does with a link's code: takes the sealed key (once) and opens it. */
export async function exchangeWebSignIn(base: string, code: string): Promise<{ apiKey: string; meshId: string }> {
  const got = await call<{ sealed: string; mesh_id: string }>(base, 'POST', '/api/v1/web/session', { lookup: await webSignInLookup(code) });
  return { apiKey: await openWebSignIn(code, got.sealed), meshId: got.mesh_id };
}

/** A mesh's analytics (protocol §8.7), owner or admin: `window` 24h, 7d or 30d; `bucket` hour or day (default by window). */
export function meshAnalytics(base: string, admin: Identity, meshId: string, window: AnalyticsWindow = '24h', bucket?: AnalyticsBucket): Promise<MeshAnalytics> {
  const query = `window=${window}${bucket ? `&bucket=${bucket}` : ''}`;
  return signedRequest<MeshAnalytics>(base, admin, meshId, 'GET', `/api/v1/meshes/${meshId}/analytics?${query}`);
}
