import { ProtocolError, type InviteResponse, type PeerType } from '@claudemesh/core';
import type { QueryRunner } from 'typeorm';
import type { MeshDirectory, MemberRecord, MeshState } from '../meshes/mesh-directory.js';

/** What v1 and v2 invites share: they are counted, expire, can be revoked, and answer alike. */
export interface CountedInvite {
  id: string;
  mesh_id: string;
  role: 'admin' | 'member';
  max_uses: number;
  uses: number;
  expires_at: Date;
  revoked_at: Date | null;
}

/**
 * The mesh of a stored invite whose issuer may still issue it: an active owner or admin, and the
 * owner for an admin invite. Shared by short-code and email invites at claim time.
 */
export async function issuerStanding(meshes: { require(meshId: string): Promise<MeshState> }, row: { mesh_id: string; issuer_pubkey: string; role: 'admin' | 'member' }): Promise<MeshState> {
  const state = await meshes.require(row.mesh_id);
  const issuer = state.byPubkey.get(row.issuer_pubkey);
  if (!issuer || issuer.revoked || (issuer.role !== 'owner' && issuer.role !== 'admin')) {
    throw new ProtocolError('E_INVITE_INVALID', 'the invite issuer is no longer an active owner or admin of the mesh');
  }
  if (row.role === 'admin' && issuer.role !== 'owner') throw new ProtocolError('E_INVITE_INVALID', 'only the owner can invite admins');
  return state;
}

export function inviteResponse(r: CountedInvite, version?: 2): InviteResponse {
  return {
    invite_id: r.id,
    mesh_id: r.mesh_id,
    role: r.role,
    max_uses: r.max_uses,
    uses: r.uses,
    expires_at: r.expires_at.getTime(),
    revoked: r.revoked_at !== null,
    ...(version ? { version } : {}),
  };
}

/** Why the conditional `uses = uses + 1` matched nothing, from the invite as it is now. */
export function unusableInvite(current: CountedInvite | undefined): ProtocolError {
  if (current?.revoked_at) return new ProtocolError('E_INVITE_REVOKED', 'the invite has been revoked');
  if (current && current.uses >= current.max_uses) return new ProtocolError('E_INVITE_EXHAUSTED', 'the invite has no uses left');
  return new ProtocolError('E_INVITE_EXPIRED', 'the invite has expired');
}

export interface NewMember {
  meshId: string;
  pubkey: string;
  displayName: string;
  role: 'admin' | 'member';
  peerType: PeerType;
  inviteId: string;
}

export async function insertMember(qr: QueryRunner, m: NewMember): Promise<void> {
  await qr.query('INSERT INTO members (mesh_id, pubkey, display_name, role, peer_type, invite_id) VALUES ($1, $2, $3, $4, $5, $6)', [
    m.meshId,
    m.pubkey,
    m.displayName,
    m.role,
    m.peerType,
    m.inviteId,
  ]);
}

export const isUniqueViolation = (error: unknown): boolean => (error as { code?: string }).code === '23505';

/**
 * An enrollment that hit a unique constraint: either the same key enrolled concurrently (then it is
 * a rejoin and that member is returned) or the display name is taken.
 */
export async function concurrentEnrollment(directory: MeshDirectory, state: MeshState, pubkey: string, displayName: string): Promise<MemberRecord> {
  await directory.refresh(state.mesh.id);
  const member = state.byPubkey.get(pubkey);
  if (member && !member.revoked) return member;
  throw new ProtocolError('E_NAME_TAKEN', `display name ${displayName} is taken in this mesh`);
}
