import { CryptoError } from './errors.js';
import { contextOf, epochKeyCommitment, generateEpochKey } from './epoch-key.js';
import { hashChecked, signManifest, validateEpochManifest } from './epoch-manifest.js';
import type { EpochContext, EpochManifest, EpochReason, SignedEpochManifest } from './epoch-types.js';
import type { Identity } from './identity.js';

/**
 * Making epochs: pure crypto. Which manifest becomes current, and sealing the key to every member,
 * belong to the broker and the member clients.
 */

/** What the creator chooses; the version, creator key and key commitment are filled in. */
export type EpochFields = Omit<EpochManifest, 'v' | 'key_commitment' | 'created_by' | 'members'> & { members: readonly string[] };

/** A new epoch: the signed manifest to publish, and the epoch (with its fresh key) to seal and use. */
export interface NewEpoch {
  signed: SignedEpochManifest;
  context: EpochContext;
}

export interface FirstEpochOptions {
  meshId: string;
  /** `mesh` or `topic:<name>` (topicScope). */
  scope: string;
  /** Member keys that may hold the key; order and duplicates do not matter. The creator must be one. */
  members: readonly string[];
  creator: Identity;
  now?: number;
}

export interface NextEpochOptions {
  members: readonly string[];
  reason: EpochReason;
  creator: Identity;
  now?: number;
}

/** Sorted and deduplicated: the manifest's one spelling of a member set. */
function memberList(members: readonly string[]): string[] {
  if (!Array.isArray(members)) throw new CryptoError('E_MANIFEST_INVALID', 'members must be an array');
  return [...new Set(members)].sort();
}

/** @internal Deterministic form for test vectors only; real callers use firstEpoch / nextEpoch (fresh random key). */
export function newEpochWithKey(fields: EpochFields, creator: Identity, epochKey: Uint8Array): NewEpoch {
  const manifest = validateEpochManifest({
    v: 1, ...fields, members: memberList(fields.members), created_by: creator.publicKey, key_commitment: epochKeyCommitment(epochKey),
  });
  return { signed: signManifest(manifest, creator), context: contextOf(manifest, hashChecked(manifest), epochKey) };
}

/** Epoch 1 of a scope, with reason `create` and a fresh key. */
export function firstEpoch(opts: FirstEpochOptions): NewEpoch {
  const fields = { mesh_id: opts.meshId, scope: opts.scope, epoch: 1, prev_epoch_hash: null, members: opts.members, reason: 'create', created_at: opts.now ?? Date.now() };
  return newEpochWithKey(fields, opts.creator, generateEpochKey());
}

/**
 * The epoch after `previous` (a verified manifest of the same scope), with a fresh key. Readers accept
 * it only from a member of `previous` or from a key they count as an authority (verifyManifest).
 */
export function nextEpoch(previous: EpochManifest, opts: NextEpochOptions): NewEpoch {
  return newEpochWithKey(nextFields(previous, opts), opts.creator, generateEpochKey());
}

/** @internal The fields of the epoch after `previous`, shared by nextEpoch and the vectors. */
export function nextFields(previous: EpochManifest, opts: Omit<NextEpochOptions, 'creator'>): EpochFields {
  const prev = validateEpochManifest(previous);
  return {
    mesh_id: prev.mesh_id, scope: prev.scope, epoch: prev.epoch + 1, prev_epoch_hash: hashChecked(prev),
    members: opts.members, reason: opts.reason, created_at: opts.now ?? Date.now(),
  };
}
