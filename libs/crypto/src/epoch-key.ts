import { CryptoError } from './errors.js';
import { toB64u } from './encoding.js';
import { hashChecked, validateEpochManifest } from './epoch-manifest.js';
import type { EpochContext, EpochManifest } from './epoch-types.js';
import { hkdfSha256 } from './hkdf.js';
import { randomBytes } from './random.js';
import { DOMAIN } from './signed-strings.js';

/**
 * Epoch keys and what derives from them. The raw key is never used to encrypt: messages use a key
 * derived under their own label, and the manifest publishes a commitment derived under another, so
 * the two uses stay independent.
 */

export const EPOCH_KEY_BYTES = 32;
const EMPTY_SALT = new Uint8Array(0);

function checkKey(epochKey: Uint8Array): void {
  if (!(epochKey instanceof Uint8Array) || epochKey.length !== EPOCH_KEY_BYTES) {
    throw new CryptoError('E_KEY_INVALID', `epoch key must be ${EPOCH_KEY_BYTES} bytes`);
  }
}

/** 32 fresh random bytes, made by the member client that creates the epoch. */
export function generateEpochKey(): Uint8Array {
  return randomBytes(EPOCH_KEY_BYTES);
}

/**
 * base64url(HKDF-SHA256(epoch key, empty salt, "claudemesh/v1/key-epoch-commitment", 32)): published
 * in the manifest so every holder checks it received the creator's key. It reveals nothing usable
 * about a 256-bit random key.
 */
export function epochKeyCommitment(epochKey: Uint8Array): string {
  checkKey(epochKey);
  return toB64u(hkdfSha256(epochKey, EMPTY_SALT, DOMAIN.keyEpochCommitment, 32));
}

/** HKDF-SHA256(epoch key, empty salt, "claudemesh/v1/key-epoch-message-key", 32): the AEAD key of messages. */
export function deriveEpochMessageKey(epochKey: Uint8Array): Uint8Array {
  checkKey(epochKey);
  return hkdfSha256(epochKey, EMPTY_SALT, DOMAIN.keyEpochMessageKey, 32);
}

/**
 * A manifest (its shape checked; its signature and chain are the caller's verifyManifest) joined
 * with its key. A key that does not match the manifest's commitment is E_KEY_INVALID.
 */
export function epochContext(manifest: EpochManifest, epochKey: Uint8Array): EpochContext {
  const checked = validateEpochManifest(manifest);
  return contextOf(checked, hashChecked(checked), epochKey);
}

/** @internal epochContext for a manifest already validated and hashed. */
export function contextOf(checked: EpochManifest, hash: string, epochKey: Uint8Array): EpochContext {
  if (epochKeyCommitment(epochKey) !== checked.key_commitment) throw new CryptoError('E_KEY_INVALID', "the key is not the one this epoch's manifest commits to");
  return {
    manifest: checked,
    manifestHash: hash,
    epochKey: Uint8Array.from(epochKey),
    messageKey: deriveEpochMessageKey(epochKey),
    members: new Set(checked.members),
  };
}
