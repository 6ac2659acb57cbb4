import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromB64u, fromHex, isPublicKeyHex, toB64u, toHex, utf8Decode, utf8Encode } from './encoding.js';
import { codeOf } from '../test/code-of.js';

describe('hex', () => {
  it('round-trips any bytes and matches Node Buffer hex', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(toHex(bytes)).toBe(Buffer.from(bytes).toString('hex'));
        expect(fromHex(toHex(bytes))).toEqual(bytes);
      }),
    );
  });

  it('rejects uppercase, odd-length and non-hex input with E_ENCODING', () => {
    for (const bad of ['AB', 'abc', 'zz', 'ab cd', ' ab']) expect(codeOf(() => fromHex(bad))).toBe('E_ENCODING');
  });

  it('recognises only 64-char lowercase hex as a public key', () => {
    expect(isPublicKeyHex('ab'.repeat(32))).toBe(true);
    expect(isPublicKeyHex('AB'.repeat(32))).toBe(false);
    expect(isPublicKeyHex('ab'.repeat(31))).toBe(false);
    expect(isPublicKeyHex(42)).toBe(false);
  });
});

describe('base64url', () => {
  it('round-trips any bytes and matches Node Buffer base64url', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(toB64u(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
        expect(fromB64u(toB64u(bytes))).toEqual(bytes);
      }),
    );
  });

  it('rejects padding, the standard alphabet, whitespace, impossible lengths and non-zero trailing bits', () => {
    for (const bad of ['AQ==', 'AQ=', 'a+b/', 'AA AA', 'A', 'AAAAA', 'AB', 'AAB']) {
      expect(codeOf(() => fromB64u(bad))).toBe('E_ENCODING');
    }
  });

  it('gives every accepted string exactly one byte sequence', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')) }), (text) => {
        let bytes: Uint8Array;
        try {
          bytes = fromB64u(text);
        } catch {
          return;
        }
        expect(toB64u(bytes)).toBe(text);
      }),
    );
  });
});

describe('utf8', () => {
  it('encodes and decodes well-formed text', () => {
    expect(utf8Decode(utf8Encode('Zoë 🚀'))).toBe('Zoë 🚀');
    expect(toHex(utf8Encode('é'))).toBe('c3a9');
  });

  it('refuses lone surrogates instead of silently replacing them', () => {
    expect(codeOf(() => utf8Encode('a\uD800b'))).toBe('E_ENCODING');
    expect(codeOf(() => utf8Encode('\uDC00'))).toBe('E_ENCODING');
  });

  it('refuses malformed UTF-8 bytes', () => {
    expect(codeOf(() => utf8Decode(Uint8Array.of(0xc3)))).toBe('E_ENCODING');
    expect(codeOf(() => utf8Decode(Uint8Array.of(0xff, 0xfe)))).toBe('E_ENCODING');
  });
});
