import { loadKey, saveKey, type StoredKey } from '../idb.js';
import type { MeInfo } from '../types.js';
import type { E2eSession } from './crypto.js';

export type KeyRecord = StoredKey;

/** Whether this browser can seal and open a mesh's end-to-end encrypted messages, and why not. */
export type E2eState =
  | { kind: 'loading' }
  | { kind: 'ready'; session: E2eSession }
  | { kind: 'none'; why: string };

/** The crypto chunk (libsodium and the keyring), fetched the first time a mesh needs it. */
const crypto = (): Promise<typeof import('./crypto.js')> => import('./crypto.js');

/**
 * This browser's key for the member `me` is (docs/web.md "End-to-end encrypted topics"):
 * - the one it holds already, when that is the member's key;
 * - else, for a human enrolled with an API key and no keypair yet, a fresh one it makes and claims
 *   now (POST /me/identity; once per member) and keeps in IndexedDB;
 * - else none: the member's key lives elsewhere (its CLI, another browser) and is never copied here.
 */
export async function startE2e(apiKey: string, me: MeInfo): Promise<E2eState> {
  const held = await loadKey(me.mesh_id).catch(() => undefined);
  if (held && held.member_pubkey === me.member.member_pubkey) {
    return { kind: 'ready', session: await (await crypto()).E2eSession.open(apiKey, held) };
  }
  if (me.member.rest_only) {
    const c = await crypto();
    const record = await c.claimKey(apiKey, me.mesh_id, me.member.member_pubkey);
    await saveKey(record);
    return { kind: 'ready', session: await c.E2eSession.open(apiKey, record) };
  }
  return {
    kind: 'none',
    why: held
      ? `this browser holds another key than ${me.member.display_name}'s; end-to-end encrypted topics open where that key is`
      : `${me.member.display_name}'s key lives in the claudemesh CLI, not in this browser; end-to-end encrypted topics open there (claudemesh topic tail)`,
  };
}
