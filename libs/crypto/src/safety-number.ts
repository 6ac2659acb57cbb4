import { CryptoError } from './errors.js';
import { concatBytes, fromHex, isPublicKeyHex, utf8Encode } from './encoding.js';
import { sha512 } from './hash.js';
import { DOMAIN } from './signed-strings.js';

export const SAFETY_ITERATIONS = 5200;
export const SAFETY_GROUPS = 6;
const GROUP_MOD = 100_000;
/** Largest multiple of 100000 that fits in 32 bits; words at or above it are rejected to avoid modulo bias. */
export const SAFETY_WORD_LIMIT = Math.floor(2 ** 32 / GROUP_MOD) * GROUP_MOD;

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function u32be(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/**
 * @internal Turns a 64-byte digest into `groups` 5-digit groups by rejection sampling over
 * big-endian 32-bit words of h, then of SHA-512(h || u32be(1)), SHA-512(h || u32be(2)), …
 */
export function safetyDigits(h: Uint8Array, groups = SAFETY_GROUPS): string[] {
  const out: string[] = [];
  let block = h;
  for (let counter = 1; out.length < groups; counter++) {
    const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
    for (let o = 0; o + 4 <= block.length && out.length < groups; o += 4) {
      const word = view.getUint32(o);
      if (word < SAFETY_WORD_LIMIT) out.push(String(word % GROUP_MOD).padStart(5, '0'));
    }
    block = sha512(concatBytes(h, u32be(counter)));
  }
  return out;
}

/**
 * Symmetric fingerprint of two members' ed25519 keys for out-of-band comparison:
 * 30 digits in 6 groups of 5. The 5200 chained SHA-512 rounds make grinding a key for a
 * colliding number expensive. See docs/crypto.md for the exact algorithm.
 */
export function safetyNumber(pubA: string, pubB: string): string {
  if (!isPublicKeyHex(pubA) || !isPublicKeyHex(pubB)) {
    throw new CryptoError('E_KEY_INVALID', 'safety numbers need two 64-char lowercase hex ed25519 keys');
  }
  const a = fromHex(pubA);
  const b = fromHex(pubB);
  const [lo, hi] = compareBytes(a, b) <= 0 ? [a, b] : [b, a];
  const keys = concatBytes(lo, hi);
  let h = sha512(concatBytes(utf8Encode(DOMAIN.safety), Uint8Array.of(0), keys));
  for (let i = 1; i < SAFETY_ITERATIONS; i++) h = sha512(concatBytes(h, keys));
  return safetyDigits(h).join(' ');
}
