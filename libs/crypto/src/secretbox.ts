import { CryptoError } from './errors.js';
import { toB64u, toBytes, utf8Decode } from './encoding.js';
import { decodeSealed, type Sealed } from './sealed.js';
import { randomBytes } from './random.js';
import { na } from './sodium.js';

const KEY_BYTES = 32;

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new CryptoError('E_KEY_INVALID', `secretbox key must be ${KEY_BYTES} bytes`);
  }
}

/** A fresh 32-byte mesh (group) key. */
export function generateMeshKey(): Uint8Array {
  return na().crypto_secretbox_keygen();
}

/** @internal Deterministic form for test vectors only; real callers must use secretboxEncrypt (random nonce). */
export function secretboxEncryptWithNonce(plaintext: string | Uint8Array, key: Uint8Array, nonce: Uint8Array): Sealed {
  const sodium = na();
  checkKey(key);
  if (!(nonce instanceof Uint8Array) || nonce.length !== sodium.crypto_secretbox_NONCEBYTES) {
    throw new CryptoError('E_FIELD_INVALID', `nonce must be ${sodium.crypto_secretbox_NONCEBYTES} bytes`);
  }
  const ciphertext = sodium.crypto_secretbox_easy(toBytes(plaintext), nonce, key);
  return { nonce: toB64u(nonce), ciphertext: toB64u(ciphertext) };
}

/** XSalsa20-Poly1305 under a shared key with a random 24-byte nonce (safe to pick at random at this size). */
export function secretboxEncrypt(plaintext: string | Uint8Array, key: Uint8Array): Sealed {
  const sodium = na();
  return secretboxEncryptWithNonce(plaintext, key, randomBytes(sodium.crypto_secretbox_NONCEBYTES));
}

/** Every failure (bad encoding, wrong key, tampering) is CryptoError('E_DECRYPT'). */
export function secretboxDecrypt(sealed: Sealed, key: Uint8Array): Uint8Array {
  const sodium = na();
  checkKey(key);
  const { nonce, ciphertext } = decodeSealed(sealed, sodium.crypto_secretbox_NONCEBYTES, sodium.crypto_secretbox_MACBYTES);
  try {
    return sodium.crypto_secretbox_open_easy(ciphertext, nonce, key);
  } catch {
    throw new CryptoError('E_DECRYPT', 'secretbox could not be opened');
  }
}

export function secretboxDecryptText(sealed: Sealed, key: Uint8Array): string {
  const bytes = secretboxDecrypt(sealed, key);
  try {
    return utf8Decode(bytes);
  } catch {
    throw new CryptoError('E_DECRYPT', 'plaintext is not valid UTF-8');
  }
}
