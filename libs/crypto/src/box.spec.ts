import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoxKeyCache, boxDecrypt, boxDecryptText, boxEncrypt, boxEncryptWithNonce } from './box.js';
import { fromB64u, fromHex, toB64u, toHex } from './encoding.js';
import { generateIdentity, identityFromSeed } from './identity.js';
import type { Sealed } from './sealed.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface BoxVectors {
  sender: { seed_hex: string; public_key: string };
  recipient: { seed_hex: string; public_key: string };
  shared_key_hex: string;
  cases: { plaintext_utf8?: string; plaintext_hex?: string; sealed: Sealed }[];
  negative: { description: string; sealed: Sealed; sender_public_key: string; recipient_seed_hex: string; error: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/box.json', import.meta.url), 'utf8')) as BoxVectors;

await cryptoReady();

const alice = generateIdentity();
const bob = generateIdentity();

describe('box', () => {
  it('decrypts to the original bytes, with or without shared-key caches on either side', () => {
    const aliceCache = new BoxKeyCache(alice);
    const bobCache = new BoxKeyCache(bob);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), fc.boolean(), (pt, cacheOut, cacheIn) => {
        const sealed = boxEncrypt(pt, bob.publicKey, alice, cacheOut ? aliceCache : undefined);
        expect(boxDecrypt(sealed, alice.publicKey, bob, cacheIn ? bobCache : undefined)).toEqual(pt);
      }),
      { numRuns: 60 },
    );
  });

  it('round-trips text as UTF-8', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        expect(boxDecryptText(boxEncrypt(text, bob.publicKey, alice), alice.publicKey, bob)).toBe(text);
      }),
      { numRuns: 40 },
    );
  });

  it('gives identical ciphertext through the cache and without it', () => {
    const nonce = new Uint8Array(24).fill(7);
    expect(boxEncryptWithNonce('x', bob.publicKey, alice, nonce, new BoxKeyCache(alice))).toEqual(boxEncryptWithNonce('x', bob.publicKey, alice, nonce));
  });

  it('uses a fresh 24-byte nonce for every message', () => {
    const a = boxEncrypt('same', bob.publicKey, alice);
    const b = boxEncrypt('same', bob.publicKey, alice);
    expect(fromB64u(a.nonce)).toHaveLength(24);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it('cannot be opened by a third party or attributed to the wrong sender', () => {
    const eve = generateIdentity();
    const sealed = boxEncrypt('secret', bob.publicKey, alice);
    expect(codeOf(() => boxDecrypt(sealed, alice.publicKey, eve))).toBe('E_DECRYPT');
    expect(codeOf(() => boxDecrypt(sealed, eve.publicKey, bob))).toBe('E_DECRYPT');
  });

  it('reports invalid UTF-8 plaintext as E_DECRYPT when text is asked for', () => {
    const sealed = boxEncrypt(Uint8Array.of(0xff), bob.publicKey, alice);
    expect(codeOf(() => boxDecryptText(sealed, alice.publicKey, bob))).toBe('E_DECRYPT');
  });

  it('refuses invalid recipient keys with E_KEY_INVALID', () => {
    for (const bad of ['00'.repeat(32), alice.publicKey.toUpperCase(), 'nope']) {
      expect(codeOf(() => boxEncrypt('x', bad, alice))).toBe('E_KEY_INVALID');
    }
  });

  it('reports malformed sealed objects as E_DECRYPT', () => {
    for (const bad of [null, {}, { nonce: 1, ciphertext: 2 }, 'x']) {
      expect(codeOf(() => boxDecrypt(bad as unknown as Sealed, alice.publicKey, bob))).toBe('E_DECRYPT');
    }
  });
});

describe('BoxKeyCache', () => {
  it('returns the same shared key as the peer computes for us', () => {
    expect(new BoxKeyCache(alice).sharedKey(bob.publicKey)).toEqual(new BoxKeyCache(bob).sharedKey(alice.publicKey));
  });

  it('evicts the least recently used peer beyond maxEntries', () => {
    const cache = new BoxKeyCache(alice, 2);
    const [p1, p2, p3] = [generateIdentity(), generateIdentity(), generateIdentity()];
    const k1 = cache.sharedKey(p1.publicKey);
    cache.sharedKey(p2.publicKey);
    expect(cache.sharedKey(p1.publicKey)).toBe(k1); // hit: p1 becomes most recent
    cache.sharedKey(p3.publicKey); // evicts p2
    expect(cache.size).toBe(2);
    expect(cache.sharedKey(p1.publicKey)).toBe(k1);
    expect(cache.sharedKey(p2.publicKey)).toEqual(new BoxKeyCache(alice).sharedKey(p2.publicKey));
  });

  it('refuses invalid peer keys and a cache that belongs to another identity', () => {
    expect(codeOf(() => new BoxKeyCache(alice).sharedKey('00'.repeat(32)))).toBe('E_KEY_INVALID');
    expect(codeOf(() => boxEncrypt('x', bob.publicKey, alice, new BoxKeyCache(bob)))).toBe('E_KEY_INVALID');
    expect(codeOf(() => new BoxKeyCache(alice, 0))).toBe('E_FIELD_INVALID');
  });
});

describe('box.json vectors', () => {
  const sender = identityFromSeed(fromHex(vectors.sender.seed_hex));
  const recipient = identityFromSeed(fromHex(vectors.recipient.seed_hex));

  it('name parties whose shared key is the same from both sides', () => {
    expect([sender.publicKey, recipient.publicKey]).toEqual([vectors.sender.public_key, vectors.recipient.public_key]);
    expect(toHex(new BoxKeyCache(sender).sharedKey(recipient.publicKey))).toBe(vectors.shared_key_hex);
    expect(toHex(new BoxKeyCache(recipient).sharedKey(sender.publicKey))).toBe(vectors.shared_key_hex);
  });

  it.each(vectors.cases)('case $# encrypts to its ciphertext and opens again', (v) => {
    const plaintext = v.plaintext_hex !== undefined ? fromHex(v.plaintext_hex) : new TextEncoder().encode(v.plaintext_utf8);
    expect(boxEncryptWithNonce(plaintext, recipient.publicKey, sender, fromB64u(v.sealed.nonce))).toEqual(v.sealed);
    expect(toB64u(boxDecrypt(v.sealed, sender.publicKey, recipient))).toBe(toB64u(plaintext));
    if (v.plaintext_utf8 !== undefined) expect(boxDecryptText(v.sealed, sender.publicKey, recipient, new BoxKeyCache(recipient))).toBe(v.plaintext_utf8);
  });

  it.each(vectors.negative)('fails with $error: $description', (v) => {
    const who = identityFromSeed(fromHex(v.recipient_seed_hex));
    expect(codeOf(() => boxDecrypt(v.sealed, v.sender_public_key, who))).toBe(v.error);
    expect(codeOf(() => boxDecrypt(v.sealed, v.sender_public_key, who, new BoxKeyCache(who)))).toBe(v.error);
  });
});
