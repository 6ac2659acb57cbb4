import { EPOCH_LIMITS, ProtocolError, type EpochRotateDetails } from '@claudemesh/core';
import type { EpochManifest } from '@claudemesh/crypto';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';

/**
 * Rotation before the next send (docs/protocol.md §5.6 "Rotation"): the current epoch of a scope
 * must list exactly the members who may hold its key now. A listed member who was revoked, or left
 * a private topic, must not receive what is sent next; an eligible member who is not listed (a
 * joiner) must get the key. Either way the send is refused with E_EPOCH_STALE carrying `rotate`,
 * and the sender's client publishes the next epoch and sends again. The broker only tells; the
 * members make the key.
 */
export function rotationNeeded(state: MeshState, manifest: EpochManifest, eligible: (m: MemberRecord) => boolean, o: { shareHistory?: boolean } = {}): EpochRotateDetails | null {
  const listed = new Set(manifest.members);
  const departed: string[] = [];
  let removed = false;
  for (const key of manifest.members) {
    const m = state.byPubkey.get(key);
    if (m && eligible(m)) continue;
    departed.push(key);
    if (!m || m.revoked) removed = true;
  }
  const joined: string[] = [];
  const candidates = state.activeMembers().filter(eligible);
  // A scope with more eligible members than a manifest may list cannot list them all: joiners are
  // then added by whoever rotates next for another reason, never demanded (the send would loop).
  if (candidates.length <= EPOCH_LIMITS.maxMembers) {
    for (const m of candidates) if (!listed.has(m.pubkey)) joined.push(m.pubkey);
  }
  if (departed.length === 0 && joined.length === 0) return null;
  const reason = departed.length === 0 ? 'member_added' : removed ? 'member_removed' : 'member_left';
  // A topic whose history is shared: the joiners also get the earlier epochs from whoever rotates.
  return { reason, departed: departed.sort(), joined: joined.sort(), ...(o.shareHistory && joined.length > 0 ? { share_history: true as const } : {}) };
}

/**
 * Throws E_EPOCH_STALE with `rotate` when the epoch the sender sealed under is current but no longer
 * lists the right members (rotationNeeded). `label` names the scope to a human (#topic, the mesh).
 */
export function requireCurrentMembers(state: MeshState, manifest: EpochManifest, eligible: (m: MemberRecord) => boolean, label: string, o: { shareHistory?: boolean } = {}): void {
  const rotate = rotationNeeded(state, manifest, eligible, o);
  if (!rotate) return;
  const who = [
    rotate.departed.length > 0 ? `${rotate.departed.length} listed member(s) left or were removed` : '',
    rotate.joined.length > 0 ? `${rotate.joined.length} member(s) joined` : '',
  ].filter(Boolean).join(' and ');
  throw new ProtocolError(
    'E_EPOCH_STALE',
    `key epoch ${manifest.epoch} of ${label} must be rotated before the next send: ${who}; publish epoch ${manifest.epoch + 1} (reason ${rotate.reason}) and send again`,
    { current_epoch: manifest.epoch, rotate },
  );
}
