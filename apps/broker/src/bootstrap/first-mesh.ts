import { findMesh, loadMeshes, saveMesh, type StoredMesh } from '@claudemesh/core';
import { createInvite, createShortInvite, encodeInviteLink, encodeShortInviteLink, generateIdentity, generateMeshKey, meshCreateString, serializeIdentity, sign, toB64u, type Identity } from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { InvitesService } from '../invites/invites.service.js';
import { ShortInvitesService } from '../invites/short-invites.service.js';
import { MeshesService } from '../meshes/meshes.service.js';
import type { RunningBroker } from '../server.js';

/** The invite printed on the start that created the mesh. */
export interface FirstInvite {
  /** A short invite (protocol §9b): the broker holds the mesh key only wrapped under the code. */
  shortLink: string;
  /** The v1 signed link, which carries the mesh key itself: only when asked for (BOOTSTRAP_V1_LINK=on). */
  v1Link: string | null;
  maxUses: number;
  expiresAt: number;
}

export type Bootstrap =
  /** This start created the mesh and its one invite. */
  | { kind: 'created'; mesh: StoredMesh; invite: FirstInvite }
  /** The mesh was there already: nothing was issued. */
  | { kind: 'existing'; mesh: StoredMesh }
  /** Meshes exist whose owner keys are not in this CLAUDEMESH_HOME. */
  | { kind: 'foreign' };

export const FIRST_INVITE_USES = 10;
const INVITE_TTL_MS = 7 * 24 * 3600_000;

/**
 * On first start, act as the local owner *client*: the owner key and the mesh key are written to
 * CLAUDEMESH_HOME exactly as the CLI stores a joined mesh; the broker only sees the public key and
 * signatures. Only that start issues an invite: a restart prints no secret into the service
 * manager's log and opens no new seats (the owner issues more with `claudemesh mesh invite`).
 */
export async function bootstrapFirstMesh(broker: RunningBroker, meshName: string, opts: { v1Link?: boolean } = {}): Promise<Bootstrap> {
  const meshes = broker.app.get(MeshesService);
  const existingIds = new Set(await meshes.listMeshIds());
  const owned = loadMeshes(broker.config.home).find((m) => existingIds.has(m.mesh_id) && m.role === 'owner');
  if (owned) return { kind: 'existing', mesh: owned };
  if (existingIds.size > 0) return { kind: 'foreign' };

  const owner = generateIdentity();
  const meshKey = generateMeshKey();
  const meshId = randomUUID();
  const ts = Date.now();
  const displayName = 'owner';
  await meshes.create({
    mesh_id: meshId,
    name: meshName,
    owner_pubkey: owner.publicKey,
    display_name: displayName,
    peer_type: 'human',
    ts,
    sig: sign(meshCreateString({ meshId, name: meshName, ownerPubkey: owner.publicKey, displayName, ts }), owner.secretKey),
    general: 'e2e',
  });
  const stored: StoredMesh = {
    v: 1,
    mesh_id: meshId,
    mesh_name: meshName,
    broker_url: broker.url,
    display_name: displayName,
    role: 'owner',
    peer_type: 'human',
    identity: serializeIdentity(owner),
    mesh_key: toB64u(meshKey),
    joined_at: ts,
  };
  saveMesh(broker.config.home, stored);
  const invite = await issueFirstInvite(broker, stored, owner, meshKey, opts.v1Link ?? false);
  return { kind: 'created', mesh: findMesh(broker.config.home, meshId) ?? stored, invite };
}

async function issueFirstInvite(broker: RunningBroker, mesh: StoredMesh, owner: Identity, meshKey: Uint8Array, v1Link: boolean): Promise<FirstInvite> {
  const short = createShortInvite({ meshId: mesh.mesh_id, meshKey, issuer: owner, maxUses: FIRST_INVITE_USES, ttlMs: INVITE_TTL_MS });
  await broker.app.get(ShortInvitesService).register(mesh.mesh_id, owner.publicKey, short.record);
  let v1: string | null = null;
  if (v1Link) {
    const invite = createInvite({ meshId: mesh.mesh_id, meshName: mesh.mesh_name, brokerUrl: broker.url, issuer: owner, maxUses: FIRST_INVITE_USES, ttlMs: INVITE_TTL_MS });
    await broker.app.get(InvitesService).register(mesh.mesh_id, owner.publicKey, invite);
    v1 = encodeInviteLink(invite, meshKey);
  }
  return { shortLink: encodeShortInviteLink(broker.url, short.code), v1Link: v1, maxUses: FIRST_INVITE_USES, expiresAt: short.record.expires_at };
}
