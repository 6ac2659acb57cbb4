import { randomFillSync } from 'node:crypto';
import { CryptoError } from './errors.js';
import { toB64u } from './encoding.js';

/**
 * Small random values (nonces, seeds, ids) come from a pool refilled from the OS CSPRNG 8 KiB at a
 * time. libsodium's JS build reads the OS 4 bytes per call, which made nonce generation the top
 * cost of a sending peer; one refill now serves hundreds of nonces. Served bytes are wiped from
 * the pool so they exist only in the caller's copy.
 */
const POOL_BYTES = 8192;
const MAX_POOLED = 256;
const pool = new Uint8Array(POOL_BYTES);
let offset = POOL_BYTES;

/** n bytes from the OS CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new CryptoError('E_FIELD_INVALID', 'byte count must be a non-negative integer');
  if (n > MAX_POOLED) return randomFillSync(new Uint8Array(n));
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = pool.slice(offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}

/**
 * 128 random bits as base64url (22 chars): unguessable ids and nonces. The first character is a
 * letter or digit (redrawn otherwise, 1 in 32), so an id pasted on a command line is never read as
 * an option; that keeps 127.9 bits.
 */
export function randomId(): string {
  for (;;) {
    const id = toB64u(randomBytes(16));
    if (id[0] !== '-' && id[0] !== '_') return id;
  }
}
