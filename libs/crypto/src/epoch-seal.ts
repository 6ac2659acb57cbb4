import { CryptoError } from './errors.js';
import { isPublicKeyHex } from './encoding.js';
import { contextOf, EPOCH_KEY_BYTES } from './epoch-key.js';
import { hashChecked, validateEpochManifest } from './epoch-manifest.js';
import type { EpochContext, EpochManifest, EpochSeal } from './epoch-types.js';
import type { Identity } from './identity.js';
import { sealOpen, sealTo } from './seal.js';
import { sign, verify } from './signing.js';
import { epochSealString } from './signed-strings.js';

/**
 * Seals: one member's copy of an epoch key, a sealed box to its x25519 key signed by the member who
 * sealed it. The box alone is anonymous; the signature says who vouches for it, and the manifest
 * says whether that member may.
 */

export interface OpenEpochSealOptions {
  /** The epoch's manifest, already verified (verifyManifest) by the caller. */
  manifest: EpochManifest;
  /** The member opening the seal; it must be the seal's recipient. */
  recipient: Identity;
  /** Keys that may seal without being members of the epoch (owners, admins). */
  authorities?: readonly string[];
  /**
   * The hash verifyManifest returned with `manifest` (so `manifest` is the object it returned):
   * saves checking and hashing the manifest again. A wrong hash only makes the seal fail.
   */
  manifestHash?: string;
}

const fields = (context: Pick<EpochContext, 'manifest' | 'manifestHash'>, seal: Omit<EpochSeal, 'sig'>) => ({
  meshId: context.manifest.mesh_id, scope: context.manifest.scope, epoch: context.manifest.epoch, manifestHash: context.manifestHash,
  recipient: seal.recipient, sealer: seal.sealer, sealed: seal.sealed,
});

/** Seals the epoch key to one member of the epoch and signs it as `sealer`. */
export function sealEpochKey(context: EpochContext, recipient: string, sealer: Identity): EpochSeal {
  if (!context.members.has(recipient)) throw new CryptoError('E_SEAL_UNAUTHORIZED', 'the recipient is not a member of this epoch');
  const unsigned = { recipient, sealer: sealer.publicKey, sealed: sealTo(context.epochKey, recipient) };
  return { ...unsigned, sig: sign(epochSealString(fields(context, unsigned)), sealer.secretKey) };
}

/**
 * Opens a member's seal, in this order: the manifest's shape (E_MANIFEST_INVALID); the seal's shape
 * (E_DECRYPT); addressed to `recipient` (E_SEAL_MISMATCH); recipient a member and sealer a member or
 * authority (E_SEAL_UNAUTHORIZED); the sealer's signature (E_BAD_SIGNATURE); the box (E_DECRYPT);
 * a 32-byte key matching the manifest's commitment (E_SEAL_MISMATCH). Returns the epoch ready for use.
 */
export function openEpochSeal(seal: EpochSeal, opts: OpenEpochSealOptions): EpochContext {
  const manifest = opts.manifestHash === undefined ? validateEpochManifest(opts.manifest) : opts.manifest;
  checkSealShape(seal);
  if (seal.recipient !== opts.recipient.publicKey) throw new CryptoError('E_SEAL_MISMATCH', 'the seal is addressed to another member');
  if (!manifest.members.includes(seal.recipient)) throw new CryptoError('E_SEAL_UNAUTHORIZED', 'the recipient is not a member of this epoch');
  if (!manifest.members.includes(seal.sealer) && !(opts.authorities ?? []).includes(seal.sealer)) {
    throw new CryptoError('E_SEAL_UNAUTHORIZED', 'the sealer is neither a member of this epoch nor an authority');
  }
  const manifestHash = opts.manifestHash ?? hashChecked(manifest);
  if (!verify(epochSealString(fields({ manifest, manifestHash }, seal)), seal.sig, seal.sealer)) {
    throw new CryptoError('E_BAD_SIGNATURE', 'the seal is not signed by its sealer for this epoch and recipient');
  }
  const key = sealOpen(seal.sealed, opts.recipient);
  if (key.length !== EPOCH_KEY_BYTES) throw new CryptoError('E_SEAL_MISMATCH', `the seal does not hold a ${EPOCH_KEY_BYTES}-byte key`);
  try {
    return contextOf(manifest, manifestHash, key);
  } catch (err) {
    if (err instanceof CryptoError && err.code === 'E_KEY_INVALID') throw new CryptoError('E_SEAL_MISMATCH', "the sealed key is not the one the manifest commits to");
    throw err;
  }
}

function checkSealShape(seal: EpochSeal): void {
  const ok = typeof seal === 'object' && seal !== null && isPublicKeyHex(seal.recipient) && isPublicKeyHex(seal.sealer)
    && typeof seal.sealed === 'string' && typeof seal.sig === 'string';
  if (!ok) throw new CryptoError('E_DECRYPT', 'a seal is { recipient, sealer, sealed, sig } with hex keys and base64url strings');
}
