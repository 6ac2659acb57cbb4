import { findMesh, loadMeshes, saveMesh, type StoredMesh } from '@claudemesh/core';
import { createInvite, createShortInvite, encodeShortInviteLink, encodeInviteHttpsLink, encodeInviteLink, fromB64u, generateIdentity, generateMeshKey, meshCreateString, parseIdentity, serializeIdentity, sign, toB64u } from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { InvitesService } from '../invites/invites.service.js';
import { ShortInvitesService } from '../invites/short-invites.service.js';
import { MeshesService } from '../meshes/meshes.service.js';
import type { RunningBroker } from '../server.js';

export interface JoinInfo {
  mesh: StoredMesh;
  created: boolean;
  inviteLink: string;
  httpsLink: string;
  /** A short invite (protocol §9b): the broker holds the mesh key only wrapped under the code. */
  shortLink: string | null;
  maxUses: number;
  expiresAt: number;
}

const INVITE_USES = 10;
const INVITE_TTL_MS = 7 * 24 * 3600_000;

/**
 * On first start, act as the local owner *client*: the owner key and the mesh key are written to
 * CLAUDEMESH_HOME exactly as the CLI stores a joined mesh; the broker only sees the public key and
 * signatures. Every start then signs a fresh invite so the operator can hand out a join command.
 */
export async function bootstrapFirstMesh(broker: RunningBroker, meshName: string): Promise<JoinInfo | null> {
  const meshes = broker.app.get(MeshesService);
  const invites = broker.app.get(InvitesService);
  const existingIds = new Set(await meshes.listMeshIds());
  let stored = loadMeshes(broker.config.home).find((m) => existingIds.has(m.mesh_id) && m.role === 'owner') ?? null;
  let created = false;
  if (!stored) {
    if (existingIds.size > 0) return null; // meshes exist but their owner keys are elsewhere
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
    });
    stored = {
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
    created = true;
  }
  const owner = parseIdentity(stored.identity);
  const invite = createInvite({ meshId: stored.mesh_id, meshName: stored.mesh_name, brokerUrl: broker.url, issuer: owner, maxUses: INVITE_USES, ttlMs: INVITE_TTL_MS });
  await invites.register(stored.mesh_id, owner.publicKey, invite);
  const meshKey = stored.mesh_key ? fromB64u(stored.mesh_key) : undefined;
  let shortLink: string | null = null;
  if (meshKey) {
    const short = createShortInvite({ meshId: stored.mesh_id, meshKey, issuer: owner, maxUses: INVITE_USES, ttlMs: INVITE_TTL_MS });
    await broker.app.get(ShortInvitesService).register(stored.mesh_id, owner.publicKey, short.record);
    shortLink = encodeShortInviteLink(broker.url, short.code);
  }
  return {
    shortLink,
    mesh: findMesh(broker.config.home, stored.mesh_id) ?? stored,
    created,
    inviteLink: encodeInviteLink(invite, meshKey),
    httpsLink: encodeInviteHttpsLink(invite, meshKey),
    maxUses: INVITE_USES,
    expiresAt: invite.payload.expires_at,
  };
}
