import { toBytes, toHex } from './encoding.js';
import { na } from './sodium.js';

export function sha256(data: string | Uint8Array): Uint8Array {
  return na().crypto_hash_sha256(toBytes(data));
}

/** Lowercase hex SHA-256 (used for request body digests). */
export function sha256Hex(data: string | Uint8Array): string {
  return toHex(sha256(data));
}

export function sha512(data: string | Uint8Array): Uint8Array {
  return na().crypto_hash_sha512(toBytes(data));
}
