import type { PeerInfo } from '@claudemesh/core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../claude/atomic-file.js';

/**
 * The last member list the daemon got from the broker, per mesh (`cache/peers-<mesh-id>.json`, 0600):
 * what `peer list` shows, marked stale, and what a send's name check uses while the broker is
 * unreachable — also after a daemon restart. It holds names and public keys only.
 */
export interface PeersSnapshot {
  peers: PeerInfo[];
  /** Epoch ms when the broker listed them. */
  at: number;
}

export function peersCachePath(home: string, meshId: string): string {
  return join(home, 'cache', `peers-${meshId}.json`);
}

export function writePeersCache(home: string, meshId: string, snapshot: PeersSnapshot): void {
  writeFileAtomic(peersCachePath(home, meshId), `${JSON.stringify(snapshot)}\n`, 0o600);
}

/** The cached list, or null when missing or not in the expected shape. */
export function readPeersCache(home: string, meshId: string): PeersSnapshot | null {
  try {
    const value = JSON.parse(readFileSync(peersCachePath(home, meshId), 'utf8')) as Partial<PeersSnapshot>;
    if (!Array.isArray(value.peers) || !Number.isFinite(value.at)) return null;
    const wellFormed = value.peers.every((p: Partial<PeerInfo>) => typeof p?.display_name === 'string' && typeof p.member_pubkey === 'string' && Array.isArray(p.sessions));
    return wellFormed ? { peers: value.peers, at: value.at! } : null;
  } catch {
    return null;
  }
}
