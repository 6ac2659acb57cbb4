import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

/** Presence of one mesh as last seen; the status line prints it without connecting. */
export interface PresenceCache {
  mesh_name: string;
  online: number;
  total: number;
  /** Epoch ms when the counts were taken. */
  at: number;
  /** Set by the daemon while it cannot reach the broker: why (the counts are then the last known). */
  offline?: string;
}

/** Older than this, the status line asks the broker again. */
export const PRESENCE_CACHE_TTL_MS = 60_000;

export function presenceCachePath(home: string, meshId: string): string {
  return join(home, 'cache', `presence-${meshId}.json`);
}

/**
 * Writes the cache atomically with mode 0600 (it names the mesh). Exported for the daemon, which
 * holds a live connection and can keep it fresh so the status line never has to connect.
 */
export function writePresenceCache(home: string, meshId: string, presence: Omit<PresenceCache, 'at'> & { at?: number }): PresenceCache {
  const cache: PresenceCache = { mesh_name: presence.mesh_name, online: presence.online, total: presence.total, at: presence.at ?? Date.now(), ...(presence.offline ? { offline: presence.offline } : {}) };
  writeFileAtomic(presenceCachePath(home, meshId), `${JSON.stringify(cache)}\n`, 0o600);
  return cache;
}

/** The cached presence, or null when missing or not in the expected shape. */
export function readPresenceCache(home: string, meshId: string): PresenceCache | null {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(presenceCachePath(home, meshId), 'utf8'));
  } catch {
    return null;
  }
  return isPresenceCache(value) ? value : null;
}

/** Fresh within the TTL either way, so a clock stepped backwards does not pin an old count. */
export function isFresh(cache: PresenceCache, now: number = Date.now()): boolean {
  return Math.abs(now - cache.at) < PRESENCE_CACHE_TTL_MS;
}

function isPresenceCache(value: unknown): value is PresenceCache {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;
  return typeof v['mesh_name'] === 'string' && count(v['online']) && count(v['total']) && Number.isFinite(v['at']) && (v['offline'] === undefined || typeof v['offline'] === 'string');
}
