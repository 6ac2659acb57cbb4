import type { PeerInfo } from '../protocol/v1/server-frames.js';

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
