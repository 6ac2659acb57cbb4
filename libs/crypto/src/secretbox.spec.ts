import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromB64u, fromHex } from './encoding.js';
import type { Sealed } from './sealed.js';
import { generateMeshKey, secretboxDecrypt, secretboxDecryptText, secretboxEncrypt, secretboxEncryptWithNonce } from './secretbox.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface SecretboxVectors {
  key_hex: string;
  cases: { plaintext_utf8?: string; plaintext_hex?: string; sealed: Sealed }[];
  negative: { description: string; sealed: Sealed; key_hex: string; error: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/secretbox.json', import.meta.url), 'utf8')) as SecretboxVectors;

await cryptoReady();

describe('secretbox', () => {
  it('decrypts to the original bytes under the same key', () => {
    const key = generateMeshKey();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), (pt) => {
        expect(secretboxDecrypt(secretboxEncrypt(pt, key), key)).toEqual(pt);
      }),
      { numRuns: 60 },
    );
  });

  it('round-trips text and uses a random nonce each time', () => {
    const key = generateMeshKey();
    const a = secretboxEncrypt('héllo', key);
    expect(secretboxDecryptText(a, key)).toBe('héllo');
    expect(fromB64u(a.nonce)).toHaveLength(24);
    expect(secretboxEncrypt('héllo', key).nonce).not.toBe(a.nonce);
  });

  it('generates distinct 32-byte mesh keys', () => {
    expect(generateMeshKey()).toHaveLength(32);
    expect(generateMeshKey()).not.toEqual(generateMeshKey());
  });

  it('fails with E_DECRYPT under another key and E_KEY_INVALID for a key of the wrong size', () => {
    const sealed = secretboxEncrypt('x', generateMeshKey());
    expect(codeOf(() => secretboxDecrypt(sealed, generateMeshKey()))).toBe('E_DECRYPT');
    expect(codeOf(() => secretboxDecrypt(sealed, new Uint8Array(16)))).toBe('E_KEY_INVALID');
    expect(codeOf(() => secretboxEncrypt('x', new Uint8Array(31)))).toBe('E_KEY_INVALID');
  });

  it('reports invalid UTF-8 plaintext as E_DECRYPT when text is asked for', () => {
    const key = generateMeshKey();
    expect(codeOf(() => secretboxDecryptText(secretboxEncrypt(Uint8Array.of(0xc3), key), key))).toBe('E_DECRYPT');
  });
});

describe('secretbox.json vectors', () => {
  const key = fromHex(vectors.key_hex);

  it.each(vectors.cases)('case $# encrypts to its ciphertext and opens again', (v) => {
    const plaintext = v.plaintext_hex !== undefined ? fromHex(v.plaintext_hex) : new TextEncoder().encode(v.plaintext_utf8);
    expect(secretboxEncryptWithNonce(plaintext, key, fromB64u(v.sealed.nonce))).toEqual(v.sealed);
    expect(secretboxDecrypt(v.sealed, key)).toEqual(plaintext);
  });

  it.each(vectors.negative)('fails with $error: $description', (v) => {
    expect(codeOf(() => secretboxDecrypt(v.sealed, fromHex(v.key_hex)))).toBe(v.error);
  });
});
