import { CryptoError } from './errors.js';
import { toB64u, toBytes, utf8Encode } from './encoding.js';
import { hkdfSha256 } from './hkdf.js';
import { randomBytes } from './random.js';
import { decodeSealed, type Sealed } from './sealed.js';
import { na } from './sodium.js';

/** HKDF info of the state key: shared state is never sealed under the message key itself. */
export const STATE_KEY_INFO = 'claudemesh/v1/state-key';
const STATE_AD_PREFIX = 'claudemesh/v1/state';

/** Where a value lives and which write made it: bound into the ciphertext as associated data. */
export interface StateSlot {
  meshId: string;
  /** The owner member's ed25519 public key (hex). */
  owner: string;
  key: string;
  version: number;
}

/** The 32-byte key shared-state values are sealed with, derived from the mesh key. */
export function deriveStateKey(meshKey: Uint8Array): Uint8Array {
  if (!(meshKey instanceof Uint8Array) || meshKey.length !== 32) throw new CryptoError('E_KEY_INVALID', 'mesh key must be 32 bytes');
  return hkdfSha256(meshKey, new Uint8Array(0), STATE_KEY_INFO, 32);
}

/**
 * The associated data: a broker that moves a value to another key, owner or version, or serves an
 * older version as the current one under the newer number, makes it fail to open.
 */
export function stateAssociatedData(slot: StateSlot): Uint8Array {
  if (!Number.isInteger(slot.version) || slot.version < 1) throw new CryptoError('E_FIELD_INVALID', 'version must be a positive integer');
  return utf8Encode(`${STATE_AD_PREFIX}\n${slot.meshId}\n${slot.owner}\n${slot.key}\n${slot.version}`);
}

/** @internal Deterministic form for test vectors only. */
export function stateEncryptWithNonce(value: string | Uint8Array, meshKey: Uint8Array, slot: StateSlot, nonce: Uint8Array): Sealed {
  const sodium = na();
  if (!(nonce instanceof Uint8Array) || nonce.length !== sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES) {
    throw new CryptoError('E_FIELD_INVALID', `nonce must be ${sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES} bytes`);
  }
  const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(toBytes(value), stateAssociatedData(slot), null, nonce, deriveStateKey(meshKey));
  return { nonce: toB64u(nonce), ciphertext: toB64u(ciphertext) };
}

/** XChaCha20-Poly1305 under the state key with a random 24-byte nonce, bound to its slot. */
export function stateEncrypt(value: string | Uint8Array, meshKey: Uint8Array, slot: StateSlot): Sealed {
  return stateEncryptWithNonce(value, meshKey, slot, randomBytes(na().crypto_aead_xchacha20poly1305_ietf_NPUBBYTES));
}

/** Every failure (wrong key, tampering, a value moved to another slot) is CryptoError('E_DECRYPT'). */
export function stateDecrypt(sealed: Sealed, meshKey: Uint8Array, slot: StateSlot): Uint8Array {
  const sodium = na();
  const { nonce, ciphertext } = decodeSealed(sealed, sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES);
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, stateAssociatedData(slot), nonce, deriveStateKey(meshKey));
  } catch {
    throw new CryptoError('E_DECRYPT', 'state value could not be opened (wrong mesh key, or moved to another key, owner or version)');
  }
}
