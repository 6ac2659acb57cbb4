import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './encoding.js';
import { CryptoError } from './errors.js';
import { safetyDigits, safetyNumber, SAFETY_WORD_LIMIT } from './safety-number.js';
import { cryptoReady } from './sodium.js';

interface SafetyVectors {
  iterations: number;
  word_limit: number;
  cases: { a: string; b: string; safety_number: string }[];
  digits: { description: string; h_hex: string; groups: string[] }[];
  negative: { description: string; a: string; b: string; error: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/safety-number.json', import.meta.url), 'utf8')) as SafetyVectors;

await cryptoReady();

// A second implementation of the algorithm in docs/crypto.md, on Node's SHA-512 and Buffers.
function referenceSafetyNumber(a: string, b: string): string {
  const [lo, hi] = [Buffer.from(a, 'hex'), Buffer.from(b, 'hex')].sort(Buffer.compare) as [Buffer, Buffer];
  const sha512 = (...parts: Buffer[]): Buffer => createHash('sha512').update(Buffer.concat(parts)).digest();
  let h = sha512(Buffer.from('claudemesh/v1/safety-number'), Buffer.of(0), lo, hi);
  for (let i = 1; i < 5200; i++) h = sha512(h, lo, hi);
  const groups: string[] = [];
  for (let block = h, counter = 1; groups.length < 6; counter++) {
    for (let o = 0; o < 64 && groups.length < 6; o += 4) {
      const word = block.readUInt32BE(o);
      if (word < 4294900000) groups.push(String(word % 100000).padStart(5, '0'));
    }
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(counter);
    block = sha512(h, ctr);
  }
  return groups.join(' ');
}

const hexKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toHex);

describe('safetyNumber', () => {
  it('is 30 digits in 6 groups of 5 and does not depend on argument order', () => {
    fc.assert(
      fc.property(hexKey, hexKey, (a, b) => {
        const n = safetyNumber(a, b);
        expect(n).toMatch(/^\d{5}( \d{5}){5}$/);
        expect(safetyNumber(b, a)).toBe(n);
      }),
      { numRuns: 10 },
    );
  });

  it('matches an independent implementation of the documented algorithm', () => {
    fc.assert(
      fc.property(hexKey, hexKey, (a, b) => {
        expect(safetyNumber(a, b)).toBe(referenceSafetyNumber(a, b));
      }),
      { numRuns: 5 },
    );
  });

  it('changes when either key changes', () => {
    const a = 'aa'.repeat(32);
    const b = 'bb'.repeat(32);
    expect(safetyNumber(a, b)).not.toBe(safetyNumber(a, 'bc'.repeat(32)));
    expect(safetyNumber(a, b)).not.toBe(safetyNumber('ab'.repeat(32), b));
  });

  it('rejects 32-bit words at or above the largest multiple of 100000, avoiding modulo bias', () => {
    expect(SAFETY_WORD_LIMIT).toBe(4294900000);
    const h = new Uint8Array(64).fill(0xff);
    h.set([0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x07], 0); // rejected word, then 7
    new DataView(h.buffer).setUint32(8, SAFETY_WORD_LIMIT - 1); // largest accepted word
    new DataView(h.buffer).setUint32(12, SAFETY_WORD_LIMIT); // smallest rejected word
    expect(safetyDigits(h).slice(0, 2)).toEqual(['00007', '99999']);
  });

  it('refuses keys that are not 64-char lowercase hex', () => {
    expect(() => safetyNumber('AA'.repeat(32), 'bb'.repeat(32))).toThrow(CryptoError);
  });
});

describe('safety-number.json vectors', () => {
  it('state the constants the implementation uses', () => {
    expect(vectors.iterations).toBe(5200);
    expect(vectors.word_limit).toBe(SAFETY_WORD_LIMIT);
  });

  it.each(vectors.cases)('$a × $b → $safety_number', (v) => {
    expect(safetyNumber(v.a, v.b)).toBe(v.safety_number);
    expect(referenceSafetyNumber(v.a, v.b)).toBe(v.safety_number);
  });

  it.each(vectors.digits)('digit extraction: $description', (v) => {
    expect(safetyDigits(fromHex(v.h_hex))).toEqual(v.groups);
  });

  it.each(vectors.negative)('fails with $error: $description', (v) => {
    let code: string | undefined;
    try {
      safetyNumber(v.a, v.b);
    } catch (err) {
      code = err instanceof CryptoError ? err.code : 'other';
    }
    expect(code).toBe(v.error);
  });
});
