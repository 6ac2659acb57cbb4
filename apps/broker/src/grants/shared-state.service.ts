import { Injectable } from '@nestjs/common';
import { LIMITS, ProtocolError, type ClientFrameMap, type StateEntry } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';

interface StateRow {
  owner_member_id: string;
  key: string;
  version: number;
  nonce: Buffer;
  ciphertext: Buffer;
  updated_by_member_id: string;
  updated_at: Date;
}

/**
 * Shared state (docs/protocol.md §6.4): each member owns a namespace of keys. Anyone the owner
 * grants `state-read` reads them, anyone it grants `state-write` writes them; values are sealed by
 * the writer and opaque here. Writes carry the version they create, so two writers racing on one
 * key cannot silently overwrite each other: the loser gets E_CONFLICT and re-reads.
 */
@Injectable()
export class SharedStateService {
  constructor(private readonly ds: DataSource) {}

  async set(state: MeshState, writer: MemberRecord, frame: ClientFrameMap['state_set']): Promise<StateEntry> {
    const owner = this.ownerOf(state, writer, frame.owner);
    if (!state.allows(owner.id, writer.id, 'state-write')) throw new ProtocolError('E_FORBIDDEN', `${owner.displayName} has not granted you state-write`);
    const nonce = Buffer.from(frame.nonce, 'base64url');
    const ciphertext = Buffer.from(frame.ciphertext, 'base64url');
    if (nonce.length !== 24 || ciphertext.length < 16 || ciphertext.length > LIMITS.maxStateValueBytes + 16) {
      throw new ProtocolError('E_SCHEMA', `nonce must be 24 bytes and ciphertext 16 to ${LIMITS.maxStateValueBytes + 16}`);
    }
    let written: StateRow[];
    if (frame.version === 1) {
      const [count] = await rows<{ n: number }>(this.ds, 'SELECT count(*)::int AS n FROM shared_state WHERE owner_member_id = $1', [owner.id]);
      if (count!.n >= LIMITS.maxStateKeysPerOwner) throw new ProtocolError('E_FORBIDDEN', `${owner.displayName} already holds ${LIMITS.maxStateKeysPerOwner} keys`);
      written = await rows<StateRow>(
        this.ds,
        `INSERT INTO shared_state (owner_member_id, key, mesh_id, version, nonce, ciphertext, updated_by_member_id) VALUES ($1, $2, $3, 1, $4, $5, $6)
         ON CONFLICT (owner_member_id, key) DO NOTHING RETURNING *`,
        [owner.id, frame.key, state.mesh.id, nonce, ciphertext, writer.id],
      );
    } else {
      written = await rows<StateRow>(
        this.ds,
        `UPDATE shared_state SET version = $3, nonce = $4, ciphertext = $5, updated_by_member_id = $6, updated_at = now()
         WHERE owner_member_id = $1 AND key = $2 AND version = $3 - 1 RETURNING *`,
        [owner.id, frame.key, frame.version, nonce, ciphertext, writer.id],
      );
    }
    if (written.length === 0) {
      const [current] = await rows<{ version: number }>(this.ds, 'SELECT version FROM shared_state WHERE owner_member_id = $1 AND key = $2', [owner.id, frame.key]);
      throw new ProtocolError('E_CONFLICT', `${frame.key} is at version ${current?.version ?? 0}; write version ${(current?.version ?? 0) + 1}`);
    }
    return this.entry(state, written[0]!);
  }

  /** What matches and the reader may read; keys of owners who do not grant state-read are left out. */
  async get(state: MeshState, reader: MemberRecord, frame: ClientFrameMap['state_get']): Promise<StateEntry[]> {
    const owners = frame.owner ? [this.ownerOf(state, reader, frame.owner)] : state.activeMembers();
    const readable = owners.filter((o) => state.allows(o.id, reader.id, 'state-read')).map((o) => o.id);
    if (readable.length === 0) return [];
    const found = await rows<StateRow>(
      this.ds,
      `SELECT * FROM shared_state WHERE mesh_id = $1 AND owner_member_id = ANY($2::bigint[]) ${frame.key ? 'AND key = $3' : ''} ORDER BY owner_member_id, key LIMIT 2000`,
      frame.key ? [state.mesh.id, readable, frame.key] : [state.mesh.id, readable],
    );
    return found.map((r) => this.entry(state, r));
  }

  private ownerOf(state: MeshState, caller: MemberRecord, pubkey: string | undefined): MemberRecord {
    if (!pubkey) return caller;
    const owner = state.byPubkey.get(pubkey);
    if (!owner || owner.revoked) throw new ProtocolError('E_UNKNOWN_TARGET', `no member ${pubkey} in this mesh`);
    return owner;
  }

  private entry(state: MeshState, r: StateRow): StateEntry {
    return {
      owner: state.byId.get(String(r.owner_member_id))!.pubkey,
      key: r.key,
      version: r.version,
      nonce: r.nonce.toString('base64url'),
      ciphertext: r.ciphertext.toString('base64url'),
      updated_by: state.byId.get(String(r.updated_by_member_id))!.pubkey,
      updated_at: r.updated_at.getTime(),
    };
  }
}
