import { Capability, EpochMs, MessageId, PeerStatus, PubkeyHex } from '@claudemesh/core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { LocalStore, type LocalImportCounts, type LocalSnapshot } from '../store/local-store.js';

/**
 * The `local` member of a version-2 archive (docs/crypto.md, "Backup file"): what local.db holds that
 * no other machine has — keys verified out of band (the ✓ of `peer verify`), the inbox history with
 * its read marks, the local copy of grants, and the status and summary last set. Each row is checked
 * here before a restore writes anything.
 */
const MeshId = z.string().min(1).max(64);
const Text = z.string().max(1024 * 1024);

export const LocalSnapshotSchema = z.strictObject({
  verified_peers: z.array(z.strictObject({ mesh_id: MeshId, member_pubkey: PubkeyHex, display_name: z.string().min(1).max(64), verified_at: EpochMs })),
  inbox: z.array(
    z.strictObject({
      mesh_id: MeshId,
      message_id: MessageId,
      client_id: z.string().min(1).max(64),
      kind: z.enum(['dm', 'group', 'broadcast']),
      from_name: z.string().max(64),
      from_member: PubkeyHex,
      from_session: PubkeyHex,
      to: z.string().max(200),
      text: Text,
      priority: z.enum(['now', 'next', 'low']),
      reply_to: MessageId.nullable(),
      sent_at: EpochMs,
      received_at: EpochMs,
      read_at: EpochMs.nullable(),
      /** Absent in archives made before bridges forwarded messages. */
      fwd_from: z.string().max(64).nullable().optional(),
      fwd_mesh: z.string().max(64).nullable().optional(),
    }),
  ),
  grants: z.array(z.strictObject({ mesh_id: MeshId, peer: PubkeyHex, display_name: z.string().max(64), capabilities: z.array(Capability), blocked: z.boolean(), updated_at: EpochMs })),
  presence: z.array(z.strictObject({ mesh_id: MeshId, status: PeerStatus.nullable(), summary: z.string().max(1024).nullable(), updated_at: EpochMs })),
});

/** local.db's records for a backup; null when there is no local.db, or it cannot be read (the reason). */
export function collectLocal(home: string): { snapshot: LocalSnapshot | null; unreadable?: string } {
  if (!existsSync(join(home, 'local.db'))) return { snapshot: null };
  let store: LocalStore;
  try {
    store = LocalStore.open(home);
  } catch (error) {
    return { snapshot: null, unreadable: (error as Error).message };
  }
  try {
    return { snapshot: store.exportSnapshot() };
  } finally {
    store.close();
  }
}

/** Merges a backup's records into this home's local.db (created 0600 when absent). */
export function restoreLocal(home: string, snapshot: LocalSnapshot): LocalImportCounts {
  const store = LocalStore.open(home);
  try {
    return store.importSnapshot(snapshot);
  } finally {
    store.close();
  }
}

export const snapshotSize = (s: LocalSnapshot): LocalImportCounts => ({ verified_peers: s.verified_peers.length, inbox: s.inbox.length, grants: s.grants.length, presence: s.presence.length });
