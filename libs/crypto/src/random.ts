import { CryptoError } from './errors.js';
import { toB64u } from './encoding.js';
import { na } from './sodium.js';

/** n bytes from the OS CSPRNG (via libsodium). */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new CryptoError('E_FIELD_INVALID', 'byte count must be a non-negative integer');
  return na().randombytes_buf(n);
}

/** 128 random bits as base64url (22 chars): unguessable ids and nonces. */
export function randomId(): string {
  return toB64u(randomBytes(16));
}
