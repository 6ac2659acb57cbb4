import { MeshClient, claudemeshHome, wsUrlOf, type EpochKeyring, type StoredMesh } from '@claudemesh/core';
import { fromB64u, parseIdentity } from '@claudemesh/crypto';
import type { LocalStore } from './store/local-store.js';

/**
 * The SDK client for a joined mesh, from its stored keys: one place for the CLI's one-shot
 * connections, the daemon's and the push-pipe's reconnecting ones. libsodium must be ready.
 * `@group` and `*` go under the mesh scope's key epochs once the mesh has one (an owner's or
 * admin's first such send creates it), through the member's keyring.
 */
export function meshClientFor(mesh: StoredMesh, options: { reconnect: boolean; clientName: string; history?: LocalStore }): MeshClient {
  const history = options.history;
  // The member's keyring (keyrings/<mesh_id>.json), loaded once connected — its authorities come
  // from the member list — at the first @group / * send or epoch push; saved whenever it changes.
  let save: (() => void) | null = null;
  const keyring = async (client: MeshClient): Promise<EpochKeyring> => {
    const { loadKeyring } = await import('./topic-keyring.js');
    const stored = await loadKeyring(claudemeshHome(), mesh, client);
    save = () => stored.save();
    return stored.ring;
  };
  return new MeshClient({
    keyring,
    onKeyringChange: () => save?.(),
    url: wsUrlOf(mesh.broker_url),
    meshId: mesh.mesh_id,
    identity: parseIdentity(mesh.identity),
    ...(mesh.mesh_key ? { meshKey: fromB64u(mesh.mesh_key) } : {}),
    peerType: mesh.peer_type,
    reconnect: options.reconnect,
    clientName: options.clientName,
    // Replies to a session key seen in the local inbox are boxed for its member, even after it rotated.
    ...(history ? { sessionMember: (session: string) => history.memberOfSession(mesh.mesh_id, session) } : {}),
    // The second line behind the broker's: what the local grants forbid is confirmed and dropped.
    ...(history ? { accept: (p: { kind: string; fromMember: string }) => history.allows(mesh.mesh_id, p.fromMember, p.kind === 'dm' ? 'dm' : 'broadcast') } : {}),
  });
}
