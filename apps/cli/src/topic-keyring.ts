import { EpochKeyring, type KeyringSnapshot, type MeshClient, type PeerInfo, type StoredMesh } from '@claudemesh/core';
import { parseIdentity } from '@claudemesh/crypto';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './claude/atomic-file.js';
import { CliError, EXIT } from './context.js';

/**
 * The member's key epochs of one mesh on disk (docs/cli.md "End-to-end encrypted topics"):
 * `$CLAUDEMESH_HOME/keyrings/<mesh_id>.json`, 0600 in a 0700 directory, replaced in one rename.
 * It holds epoch keys, so it is as private as the identity. Loading verifies it again as if the
 * broker had sent it (EpochKeyring.restore), so an edited file cannot slip a key past the chain.
 */

export function keyringPath(home: string, meshId: string): string {
  return join(home, 'keyrings', `${meshId}.json`);
}

/**
 * Who may create an epoch without being listed in the one before, from the mesh's member list:
 * epoch 1 of a topic's scope is made by whoever posts first, so any current member key (epoch 1
 * of the mesh scope only by the owner or an admin, as the broker requires); a later epoch
 * comes from a member of the one before (checked by the keyring itself) or from an owner or admin.
 * A creator of epoch 1 since removed from the mesh is no longer an authority: that chain stops
 * verifying until a current member rotates.
 */
export function keyringAuthorities(peers: readonly PeerInfo[]): (scope: string, epoch: number) => readonly string[] {
  const all = peers.map((p) => p.member_pubkey);
  const admins = peers.filter((p) => p.role === 'owner' || p.role === 'admin').map((p) => p.member_pubkey);
  // The mesh scope's epoch 1, like every later epoch's creator outside the previous one, is an owner's or admin's.
  return (scope, epoch) => (epoch === 1 && scope !== 'mesh' ? all : admins);
}

export interface StoredKeyring {
  ring: EpochKeyring;
  /** Writes what the ring holds now (after a sync or a rotation), atomically. */
  save(): void;
}

/** The mesh's keyring, loaded and verified against the member list `client` sees (empty when none is stored). */
export async function loadKeyring(home: string, mesh: StoredMesh, client: MeshClient): Promise<StoredKeyring> {
  const ring = new EpochKeyring({ me: parseIdentity(mesh.identity), meshId: mesh.mesh_id, authorities: keyringAuthorities(await client.listPeers()) });
  const path = keyringPath(home, mesh.mesh_id);
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== null) {
    let snapshot: KeyringSnapshot;
    try {
      snapshot = JSON.parse(text) as KeyringSnapshot;
      if (snapshot?.v !== 1 || typeof snapshot.scopes !== 'object' || snapshot.scopes === null) throw new Error('not a keyring snapshot (v 1)');
    } catch (error) {
      // Never overwritten: it may hold the only copy of a key whose seal the broker no longer has.
      throw new CliError(`cannot read the keyring ${path}: ${(error as Error).message}; move it aside and retry (keys still sealed to you are fetched again)`, EXIT.failure);
    }
    ring.restore(snapshot);
  }
  return {
    ring,
    save() {
      const dir = join(home, 'keyrings');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
      writeFileAtomic(path, `${JSON.stringify(ring.snapshot())}\n`, 0o600);
    },
  };
}
