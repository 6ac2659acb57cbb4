import {
  createInvite,
  joinString,
  meshCreateString,
  requestString,
  sha256Hex,
  sign,
  type Identity,
  type InviteRole,
  type SignedInvite,
} from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { ProtocolError, isErrorCode } from '../protocol/v1/errors.js';
import type { PeerType } from '../protocol/v1/primitives.js';
import {
  formatSignedRequestAuth,
  type InviteResponse,
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

/** A request signed by a member key (REST auth for member and admin routes). */
export function signedRequest<T>(base: string, identity: Identity, meshId: string, method: string, path: string, body?: unknown): Promise<T> {
  const raw = body === undefined ? '' : JSON.stringify(body);
  const ts = Date.now();
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
    { mesh_id: meshId, name: opts.name, owner_pubkey: opts.owner.publicKey, display_name: opts.displayName, peer_type: opts.peerType ?? 'ai', ts, sig },
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

export function revokeMember(base: string, admin: Identity, meshId: string, memberPubkey: string): Promise<{ revoked: boolean }> {
  return signedRequest(base, admin, meshId, 'POST', `/api/v1/meshes/${meshId}/members/${memberPubkey}/revoke`, {});
}
