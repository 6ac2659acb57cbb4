import type { PeerInfo } from '@claudemesh/core';
import { keyChangedWarning } from './format.js';
import { safeText } from './terminal-text.js';

/**
 * A send to a display name you verified (claudemesh peer verify --confirm) checks that the mesh
 * still lists that name with a key you verified, and says so loudly on stderr when it does not.
 * Only a warning: the send goes ahead. Shared by the command tree and the fast path (no zod, no
 * Nest: the store is loaded on demand), so both print the same line.
 */
export async function warnIfKeyChanged(home: string, meshId: string, to: string, peers: () => Promise<PeerInfo[]>): Promise<void> {
  if (to === '*' || to.startsWith('@') || /^[0-9a-f]{64}$/.test(to)) return;
  const { LocalStore } = await import('./store/local-store.js');
  const store = LocalStore.open(home);
  let keys: string[];
  try {
    keys = store.verifiedByName(meshId, to).map((v) => v.member_pubkey);
  } finally {
    store.close();
  }
  if (keys.length === 0) return;
  let listed: PeerInfo[];
  try {
    listed = await peers();
  } catch (error) {
    process.stderr.write(`claudemesh: ${safeText(`could not check ${to}'s key against the one you verified (${error instanceof Error ? error.message : String(error)})`)}\n`);
    return;
  }
  const warning = keyChangedWarning(to, keys, listed);
  if (warning) process.stderr.write(warning);
}
