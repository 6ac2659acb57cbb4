import { createHash, hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './encoding.js';
import { sha256Hex, sha512 } from './hash.js';
import { hkdfSha256 } from './hkdf.js';
import { randomBytes, randomId } from './random.js';
import { cryptoReady } from './sodium.js';

await cryptoReady();

describe('hashes', () => {
  it('sha256Hex hashes the UTF-8 bytes of strings like node:crypto does', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(sha256Hex(s)).toBe(createHash('sha256').update(s, 'utf8').digest('hex'));
      }),
    );
  });

  it('sha512 matches node:crypto', () => {
    fc.assert(
      fc.property(fc.uint8Array(), (b) => {
        expect(toHex(sha512(b))).toBe(createHash('sha512').update(b).digest('hex'));
      }),
    );
  });
});

describe('hkdfSha256', () => {
  // RFC 5869 appendix A, test cases 1 and 3 (case 3: empty salt and info).
  it('reproduces RFC 5869 test case 1', () => {
    const okm = hkdfSha256(fromHex('0b'.repeat(22)), fromHex('000102030405060708090a0b0c'), fromHex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(toHex(okm)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });

  it('reproduces RFC 5869 test case 3 (empty salt means 32 zero bytes)', () => {
    const okm = hkdfSha256(fromHex('0b'.repeat(22)), new Uint8Array(0), '', 42);
    expect(toHex(okm)).toBe('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
    expect(hkdfSha256(fromHex('0b'.repeat(22)), new Uint8Array(32), '', 42)).toEqual(okm);
  });

  it('agrees with node:crypto hkdfSync on random inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), fc.string(), fc.integer({ min: 1, max: 300 }), (ikm, salt, info, len) => {
        const expected = new Uint8Array(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'utf8'), len));
        expect(hkdfSha256(ikm, salt, info, len)).toEqual(expected);
      }),
      { numRuns: 50 },
    );
  });

  it('refuses output lengths HKDF cannot produce', () => {
    expect(() => hkdfSha256(new Uint8Array(32), new Uint8Array(32), '', 0)).toThrow(/E_FIELD_INVALID/);
    expect(() => hkdfSha256(new Uint8Array(32), new Uint8Array(32), '', 255 * 32 + 1)).toThrow(/E_FIELD_INVALID/);
  });
});

describe('randomness', () => {
  it('randomBytes returns the requested length and randomId 22 base64url chars', () => {
    expect(randomBytes(0)).toHaveLength(0);
    expect(randomBytes(33)).toHaveLength(33);
    expect(randomId()).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(Array.from({ length: 100 }, randomId)).size).toBe(100);
    // 2 of 64 first characters would read as an option on a command line; 4000 draws would show
    // ~125 of them if ids were not redrawn.
    expect(Array.from({ length: 4000 }, randomId).filter((id) => /^[-_]/.test(id))).toEqual([]);
  });
});
