import { ProtocolError, handOverMeshKey, httpBaseOf, listKeyRequests, type StoredMesh } from '@claudemesh/core';
import { fromB64u, parseIdentity } from '@claudemesh/crypto';

/** What `mesh handoff` (and the daemon) did for one member admitted by an email invite. */
export interface HandoffOutcome {
  mesh_id: string;
  mesh_name: string;
  invite_id: string;
  email: string;
  member_pubkey: string;
  display_name: string;
  status: 'handed-over' | 'skipped' | 'failed';
  reason?: string;
}

/** Meshes where this machine can hand the key over: owner or admin, with the mesh key here. */
export const canHandOver = (mesh: StoredMesh): boolean => mesh.role !== 'member' && Boolean(mesh.mesh_key);

/**
 * Answers the key requests of one mesh: seals the mesh key to each member admitted by an email
 * invite this member sent (the SDK refuses a request it cannot tie to an invite it signed). Invites
 * of other admins are theirs to answer. Used by `claudemesh mesh handoff` and by the daemon.
 */
export async function answerKeyRequests(mesh: StoredMesh): Promise<HandoffOutcome[]> {
  if (!canHandOver(mesh)) return [];
  const admin = parseIdentity(mesh.identity);
  const base = httpBaseOf(mesh.broker_url);
  const meshKey = fromB64u(mesh.mesh_key!);
  const { requests } = await listKeyRequests(base, admin, mesh.mesh_id);
  const outcomes: HandoffOutcome[] = [];
  for (const r of requests) {
    const row = { mesh_id: mesh.mesh_id, mesh_name: mesh.mesh_name, invite_id: r.invite_id, email: r.invite.email, member_pubkey: r.member.member_pubkey, display_name: r.member.display_name };
    if (r.invite.issuer !== admin.publicKey) {
      outcomes.push({ ...row, status: 'skipped', reason: 'invited by another admin, who hands the key over' });
      continue;
    }
    try {
      await handOverMeshKey(base, admin, mesh.mesh_id, r, meshKey);
      outcomes.push({ ...row, status: 'handed-over' });
    } catch (error) {
      // Another client of this admin (the daemon, a second machine) answered first.
      if (error instanceof ProtocolError && error.code === 'E_CONFLICT') outcomes.push({ ...row, status: 'skipped', reason: 'already handed over' });
      else outcomes.push({ ...row, status: 'failed', reason: error instanceof ProtocolError ? `${error.message} [${error.code}]` : (error as Error).message });
    }
  }
  return outcomes;
}
