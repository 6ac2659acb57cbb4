import { CryptoError } from './errors.js';
import { concatBytes, toBytes } from './encoding.js';
import { na } from './sodium.js';

const HASH_LEN = 32;

/** HMAC-SHA256 (RFC 2104) with a key of any length. */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  const sodium = na();
  // The init/update/final form takes keys of any length (the one-shot form wants exactly 32 bytes).
  const state = sodium.crypto_auth_hmacsha256_init(key);
  sodium.crypto_auth_hmacsha256_update(state, message);
  return sodium.crypto_auth_hmacsha256_final(state);
}

/**
 * HKDF-SHA256 (RFC 5869). An empty salt means HashLen zero bytes, as the RFC specifies.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string | Uint8Array, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 1 || length > 255 * HASH_LEN) {
    throw new CryptoError('E_FIELD_INVALID', `HKDF output length must be 1..${255 * HASH_LEN}`);
  }
  const prk = hmacSha256(salt.length === 0 ? new Uint8Array(HASH_LEN) : salt, ikm);
  const infoBytes = toBytes(info);
  const out = new Uint8Array(length);
  let block: Uint8Array = new Uint8Array(0);
  for (let i = 1, o = 0; o < length; i++) {
    block = hmacSha256(prk, concatBytes(block, infoBytes, Uint8Array.of(i)));
    out.set(block.subarray(0, Math.min(HASH_LEN, length - o)), o);
    o += HASH_LEN;
  }
  return out;
}
