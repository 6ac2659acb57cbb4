import { createInvite, joinString, meshCreateString, sign, type Identity, type InviteRole, type SignedInvite } from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { newWebSignInCode, openWebSignIn, sealWebSignIn, webSignInLink, webSignInLookup } from '../web/web-signin.js';
import { ProtocolError } from '../protocol/v1/errors.js';
import type { PeerType } from '../protocol/v1/primitives.js';
import type { MemberInfo } from '../protocol/v1/server-frames.js';
import type { MemberScope } from '../protocol/v1/api.js';
import type { AnalyticsBucket, AnalyticsWindow, MeshAnalytics } from '../protocol/v1/analytics.js';
import { SignedInviteBody, type InviteResponse, type JoinResponse, type MembersResponse, type MeshResponse } from '../protocol/v1/rest.js';
import { call, httpBaseOf, signedRequest } from './rest-call.js';

export { httpBaseOf, nextRequestTs, signedRequest, wsUrlOf } from './rest-call.js';

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
