import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromB64u, fromHex, toB64u } from './encoding.js';
import { randomBytes } from './random.js';
import { generateIdentity, identityFromSeed } from './identity.js';
import { sealOpen, sealTo } from './seal.js';
import { cryptoReady, na } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface SealVectors {
  recipient: { seed_hex: string; public_key: string };
  cases: { plaintext_utf8?: string; plaintext_hex?: string; ciphertext: string }[];
  negative: { description: string; ciphertext: string; recipient_seed_hex: string; error: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/seal.json', import.meta.url), 'utf8')) as SealVectors;

await cryptoReady();

describe('sealed boxes', () => {
  const bob = generateIdentity();

  it('open to the original bytes for the recipient only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (pt) => {
        const ct = sealTo(pt, bob.publicKey);
        expect(fromB64u(ct)).toHaveLength(pt.length + 48);
        expect(sealOpen(ct, bob)).toEqual(pt);
      }),
      { numRuns: 40 },
    );
    expect(codeOf(() => sealOpen(sealTo('x', bob.publicKey), generateIdentity()))).toBe('E_DECRYPT');
  });

  it('are libsodium sealed boxes: crypto_box_seal_open opens them, and sealOpen opens crypto_box_seal', () => {
    const sodium = na();
    for (let i = 0; i < 20; i++) {
      const pt = randomBytes(32);
      expect(sodium.crypto_box_seal_open(fromB64u(sealTo(pt, bob.publicKey)), bob.boxPublicKey, bob.boxSecretKey)).toEqual(pt);
      expect(sealOpen(toB64u(sodium.crypto_box_seal(pt, bob.boxPublicKey)), bob)).toEqual(pt);
    }
    // The nonce is bound to the ephemeral key: swapping in another seal's first 32 bytes fails.
    const [a, b] = [fromB64u(sealTo('x', bob.publicKey)), fromB64u(sealTo('x', bob.publicKey))];
    a.set(b.subarray(0, 32));
    expect(codeOf(() => sealOpen(toB64u(a), bob))).toBe('E_DECRYPT');
  });

  it('are randomised, so sealing twice gives different ciphertexts', () => {
    expect(sealTo('same', bob.publicKey)).not.toBe(sealTo('same', bob.publicKey));
  });

  it('refuse an invalid recipient key with E_KEY_INVALID', () => {
    expect(codeOf(() => sealTo('x', '00'.repeat(32)))).toBe('E_KEY_INVALID');
  });
});

describe('seal.json vectors', () => {
  const recipient = identityFromSeed(fromHex(vectors.recipient.seed_hex));

  it.each(vectors.cases)('case $# opens with the recipient identity', (v) => {
    expect(recipient.publicKey).toBe(vectors.recipient.public_key);
    const expected = v.plaintext_hex !== undefined ? fromHex(v.plaintext_hex) : new TextEncoder().encode(v.plaintext_utf8);
    expect(sealOpen(v.ciphertext, recipient)).toEqual(expected);
  });

  it.each(vectors.negative)('fails with $error: $description', (v) => {
    expect(codeOf(() => sealOpen(v.ciphertext, identityFromSeed(fromHex(v.recipient_seed_hex))))).toBe(v.error);
  });
});
