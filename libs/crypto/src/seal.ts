import { CryptoError } from './errors.js';
import { fromB64u, toB64u, toBytes } from './encoding.js';
import { edPublicToBoxPublic, type Identity } from './identity.js';
import { na } from './sodium.js';

/**
 * Anonymous encryption to an ed25519 identity (crypto_box_seal to its x25519 key): the recipient can
 * open it but learns nothing about the sender. Randomised; the result is base64url.
 */
export function sealTo(plaintext: Uint8Array | string, recipientPublicKeyHex: string): string {
  const recipientBox = edPublicToBoxPublic(recipientPublicKeyHex);
  return toB64u(na().crypto_box_seal(toBytes(plaintext), recipientBox));
}

/** Every failure (bad encoding, wrong recipient, tampering) is CryptoError('E_DECRYPT'). */
export function sealOpen(ciphertextB64u: string, recipient: Identity): Uint8Array {
  const sodium = na();
  let ciphertext: Uint8Array;
  try {
    ciphertext = fromB64u(ciphertextB64u);
  } catch {
    throw new CryptoError('E_DECRYPT', 'sealed box is not base64url');
  }
  if (ciphertext.length < sodium.crypto_box_SEALBYTES) throw new CryptoError('E_DECRYPT', 'sealed box is too short');
  try {
    return sodium.crypto_box_seal_open(ciphertext, recipient.boxPublicKey, recipient.boxSecretKey);
  } catch {
    throw new CryptoError('E_DECRYPT', 'sealed box could not be opened');
  }
}
