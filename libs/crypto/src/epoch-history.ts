import { CryptoError } from './errors.js';
import { isPublicKeyHex } from './encoding.js';
import { contextOf, EPOCH_KEY_BYTES } from './epoch-key.js';
import type { EpochContext, EpochHistorySeal, EpochManifest } from './epoch-types.js';
import type { Identity } from './identity.js';
import { sealOpen, sealTo } from './seal.js';
import { sign, verify } from './signing.js';
import { epochHistorySealString } from './signed-strings.js';

/**
 * Shared history (docs/crypto.md "Shared history"): in a topic whose history is shared, a member who
 * joined at epoch V receives the keys of epochs before V from a member listed in V. The box is a
 * sealed box to the joiner, like a seal, but signed under its own domain together with V and V's
 * manifest hash: the share is as good as the member who vouches for it, and the key itself must match
 * the commitment in the earlier epoch's signed manifest, so nobody can hand the joiner a key of their
 * own making for a real epoch.
 */

/** A verified manifest and its hash, as a keyring holds them. */
export interface VerifiedEpoch {
  manifest: EpochManifest;
  manifestHash: string;
}

const fields = (shared: VerifiedEpoch, via: VerifiedEpoch, seal: Omit<EpochHistorySeal, 'sig'>) => ({
  meshId: shared.manifest.mesh_id, scope: shared.manifest.scope, epoch: shared.manifest.epoch, manifestHash: shared.manifestHash,
  viaEpoch: via.manifest.epoch, viaManifestHash: via.manifestHash, recipient: seal.recipient, sealer: seal.sealer, sealed: seal.sealed,
});

function checkPair(shared: VerifiedEpoch, via: VerifiedEpoch): void {
  if (shared.manifest.mesh_id !== via.manifest.mesh_id || shared.manifest.scope !== via.manifest.scope) {
    throw new CryptoError('E_SEAL_UNAUTHORIZED', 'the epoch and the epoch it is shared under are of another mesh or scope');
  }
  if (via.manifest.epoch <= shared.manifest.epoch) throw new CryptoError('E_SEAL_UNAUTHORIZED', 'history is shared under a later epoch than the one shared');
}

/**
 * Seals the key of `shared` (an epoch the sealer holds) to `recipient`, a member listed in the later
 * epoch `via` that the sealer is listed in too.
 */
export function sealHistoryKey(shared: EpochContext, via: VerifiedEpoch, recipient: string, sealer: Identity): EpochHistorySeal {
  checkPair(shared, via);
  if (!via.manifest.members.includes(recipient)) throw new CryptoError('E_SEAL_UNAUTHORIZED', 'the recipient is not a member of the epoch history is shared under');
  if (!via.manifest.members.includes(sealer.publicKey)) throw new CryptoError('E_SEAL_UNAUTHORIZED', 'the sealer is not a member of the epoch history is shared under');
  const unsigned = { recipient, sealer: sealer.publicKey, sealed: sealTo(shared.epochKey, recipient), via_epoch: via.manifest.epoch };
  return { ...unsigned, sig: sign(epochHistorySealString(fields(shared, via, unsigned)), sealer.secretKey) };
}

export interface OpenHistorySealOptions {
  /** The shared epoch, verified (its manifest and hash as verifyManifest returned them). */
  shared: VerifiedEpoch;
  /** The epoch named by `via_epoch`, verified in the same chain. */
  via: VerifiedEpoch;
  /** The member opening it: the seal's recipient. */
  recipient: Identity;
  /** Keys that may share without being members of `via` (owners, admins). */
  authorities?: readonly string[];
}

/**
 * Opens a history seal, in this order: its shape (E_DECRYPT); `via` is the epoch it names, later
 * than the shared one, of the same mesh and scope (E_SEAL_UNAUTHORIZED); addressed to `recipient`
 * (E_SEAL_MISMATCH); recipient listed in `via`, sealer listed in `via` or an authority
 * (E_SEAL_UNAUTHORIZED); the sealer's signature (E_BAD_SIGNATURE); the box (E_DECRYPT); a 32-byte
 * key matching the shared epoch's commitment (E_SEAL_MISMATCH). Returns the shared epoch ready for use.
 */
export function openHistorySeal(seal: EpochHistorySeal, o: OpenHistorySealOptions): EpochContext {
  const ok = typeof seal === 'object' && seal !== null && isPublicKeyHex(seal.recipient) && isPublicKeyHex(seal.sealer)
    && typeof seal.sealed === 'string' && typeof seal.sig === 'string' && Number.isSafeInteger(seal.via_epoch);
  if (!ok) throw new CryptoError('E_DECRYPT', 'a history seal is { recipient, sealer, sealed, sig, via_epoch } with hex keys, base64url strings and an epoch');
  if (seal.via_epoch !== o.via.manifest.epoch) throw new CryptoError('E_SEAL_UNAUTHORIZED', `the seal is shared under epoch ${seal.via_epoch}, not ${o.via.manifest.epoch}`);
  checkPair(o.shared, o.via);
  if (seal.recipient !== o.recipient.publicKey) throw new CryptoError('E_SEAL_MISMATCH', 'the seal is addressed to another member');
  if (!o.via.manifest.members.includes(seal.recipient)) throw new CryptoError('E_SEAL_UNAUTHORIZED', 'the recipient is not a member of the epoch history is shared under');
  if (!o.via.manifest.members.includes(seal.sealer) && !(o.authorities ?? []).includes(seal.sealer)) {
    throw new CryptoError('E_SEAL_UNAUTHORIZED', 'the sealer is neither a member of the epoch history is shared under nor an authority');
  }
  if (!verify(epochHistorySealString(fields(o.shared, o.via, seal)), seal.sig, seal.sealer)) {
    throw new CryptoError('E_BAD_SIGNATURE', 'the history seal is not signed by its sealer for this epoch, grant and recipient');
  }
  const key = sealOpen(seal.sealed, o.recipient);
  if (key.length !== EPOCH_KEY_BYTES) throw new CryptoError('E_SEAL_MISMATCH', `the seal does not hold a ${EPOCH_KEY_BYTES}-byte key`);
  try {
    return contextOf(o.shared.manifest, o.shared.manifestHash, key);
  } catch (err) {
    if (err instanceof CryptoError && err.code === 'E_KEY_INVALID') throw new CryptoError('E_SEAL_MISMATCH', 'the shared key is not the one the epoch\'s manifest commits to');
    throw err;
  }
}
