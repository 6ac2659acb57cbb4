import { Injectable } from '@nestjs/common';
import { DEFAULT_CAPABILITIES, ProtocolError, type ClientFrameMap, type GrantEntry } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import type { GrantRecord, MemberRecord, MeshState } from '../meshes/mesh-directory.js';

const sameAsDefaults = (capabilities: string[], blocked: boolean): boolean =>
  !blocked && capabilities.length === DEFAULT_CAPABILITIES.length && DEFAULT_CAPABILITIES.every((c) => capabilities.includes(c));

/**
 * Capability grants (docs/protocol.md §5.5). A member sets, in full, what one peer may do to it;
 * rows equal to the defaults are deleted, so the table holds only the exceptions. The in-memory
 * MeshState copy is updated after the commit, so the next send is routed under the new grant.
 */
@Injectable()
export class GrantsService {
  constructor(private readonly ds: DataSource) {}

  async set(state: MeshState, owner: MemberRecord, frame: ClientFrameMap['set_grants']): Promise<GrantEntry> {
    const peer = state.byPubkey.get(frame.peer);
    if (!peer || peer.revoked) throw new ProtocolError('E_UNKNOWN_TARGET', `no member ${frame.peer} in this mesh`);
    if (peer.id === owner.id) throw new ProtocolError('E_FORBIDDEN', 'a member cannot set grants on itself');
    const capabilities = frame.blocked ? [] : [...frame.capabilities].sort();
    let record: GrantRecord | null;
    if (sameAsDefaults(capabilities, frame.blocked)) {
      await rows(this.ds, 'DELETE FROM peer_grants WHERE owner_member_id = $1 AND peer_member_id = $2', [owner.id, peer.id]);
      record = null;
    } else {
      const [row] = await rows<{ updated_at: Date }>(
        this.ds,
        `INSERT INTO peer_grants (owner_member_id, peer_member_id, mesh_id, capabilities, blocked) VALUES ($1, $2, $3, $4::text[], $5)
         ON CONFLICT (owner_member_id, peer_member_id) DO UPDATE SET capabilities = EXCLUDED.capabilities, blocked = EXCLUDED.blocked, updated_at = now()
         RETURNING updated_at`,
        [owner.id, peer.id, state.mesh.id, capabilities, frame.blocked],
      );
      record = { capabilities: new Set(capabilities), blocked: frame.blocked, updatedAt: row!.updated_at.getTime() };
    }
    state.setGrant(owner.id, peer.id, record);
    return entryOf(peer, record);
  }

  /** The sender's grant rows that differ from the defaults (a peer not listed has the defaults). */
  list(state: MeshState, owner: MemberRecord): GrantEntry[] {
    const out: GrantEntry[] = [];
    for (const [peerId, record] of state.grants.get(owner.id) ?? []) {
      const peer = state.byId.get(peerId);
      if (peer && !peer.revoked) out.push(entryOf(peer, record));
    }
    return out.sort((a, b) => a.display_name.localeCompare(b.display_name));
  }
}

function entryOf(peer: MemberRecord, record: GrantRecord | null): GrantEntry {
  return {
    peer: peer.pubkey,
    display_name: peer.displayName,
    capabilities: [...(record ? record.capabilities : DEFAULT_CAPABILITIES)].sort(),
    blocked: record?.blocked ?? false,
    updated_at: record?.updatedAt ?? Date.now(),
  };
}
