import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromB64u, fromHex, toB64u, toHex } from './encoding.js';
import {
  deriveIdentity, edPublicToBoxPublic, generateIdentity, identityFromSeed, parseIdentity, serializeIdentity,
} from './identity.js';
import { cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface IdentityVectors {
  seeds: { seed_hex: string; seed_b64u: string; ed25519_public_key: string; ed25519_secret_key_hex: string; x25519_public_key_hex: string; x25519_secret_key_hex: string; serialized: unknown }[];
  derive: { account_seed_hex: string; label: string; info: string; derived_seed_hex: string; ed25519_public_key: string }[];
  negative: { description: string; op: 'parseIdentity' | 'edPublicToBoxPublic' | 'fromHex' | 'fromB64u'; input: unknown; error: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/identity.json', import.meta.url), 'utf8')) as IdentityVectors;

await cryptoReady();

// Independent of libsodium: the birational map u = (1 + y) / (1 - y) mod p from edwards25519 to curve25519.
function montgomeryU(edPublicHex: string): string {
  const p = 2n ** 255n - 19n;
  const le = fromHex(edPublicHex);
  le[31]! &= 0x7f;
  const y = BigInt('0x' + toHex(le.reverse()));
  const pow = (b: bigint, e: bigint): bigint => {
    let r = 1n;
    for (b %= p; e > 0n; e >>= 1n, b = (b * b) % p) if (e & 1n) r = (r * b) % p;
    return r;
  };
  const u = (((1n + y) % p) * pow((1n - y + p) % p, p - 2n)) % p;
  return toHex(fromHex(u.toString(16).padStart(64, '0')).reverse());
}

// Independent of libsodium: Node's X25519 derives the public key from the converted secret key.
function x25519PublicFromSecret(secret: Uint8Array): string {
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: toB64u(secret), x: toB64u(new Uint8Array(32)) }, format: 'jwk' });
  const x = createPublicKey(key).export({ format: 'jwk' }).x;
  return toHex(fromB64u(x ?? ''));
}

describe('identities', () => {
  it('derive the RFC 8032 test 1 public key from its secret seed', () => {
    const id = identityFromSeed(fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    expect(id.publicKey).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  });

  it('are deterministic for a seed and random otherwise', () => {
    const seed = new Uint8Array(32).fill(9);
    expect(identityFromSeed(seed).publicKey).toBe(identityFromSeed(seed).publicKey);
    expect(generateIdentity().publicKey).not.toBe(generateIdentity().publicKey);
  });

  it('have x25519 keys that match the birational map and each other', () => {
    for (let i = 0; i < 5; i++) {
      const id = generateIdentity();
      expect(toHex(id.boxPublicKey)).toBe(montgomeryU(id.publicKey));
      expect(x25519PublicFromSecret(id.boxSecretKey)).toBe(toHex(id.boxPublicKey));
      expect(toHex(edPublicToBoxPublic(id.publicKey))).toBe(toHex(id.boxPublicKey));
    }
  });

  it('refuse seeds that are not 32 bytes', () => {
    expect(codeOf(() => identityFromSeed(new Uint8Array(31)))).toBe('E_KEY_INVALID');
  });

  it('survive serialize → JSON → parse unchanged', () => {
    const id = generateIdentity();
    const back = parseIdentity(JSON.parse(JSON.stringify(serializeIdentity(id))));
    expect(back.publicKey).toBe(id.publicKey);
    expect(back.secretKey).toEqual(id.secretKey);
    expect(back.boxSecretKey).toEqual(id.boxSecretKey);
  });

  it('refuse to parse non-objects', () => {
    for (const bad of [null, 'x', [], 1]) expect(codeOf(() => parseIdentity(bad))).toBe('E_IDENTITY_INVALID');
  });
});

describe('deriveIdentity', () => {
  it('gives the same identity for the same account seed and label, different ones otherwise', () => {
    const acct = new Uint8Array(32).fill(5);
    expect(deriveIdentity(acct, 'a').publicKey).toBe(deriveIdentity(Uint8Array.from(acct), 'a').publicKey);
    expect(deriveIdentity(acct, 'a').publicKey).not.toBe(deriveIdentity(acct, 'b').publicKey);
  });

  it('refuses account seeds shorter than 32 bytes', () => {
    expect(codeOf(() => deriveIdentity(new Uint8Array(16), 'x'))).toBe('E_KEY_INVALID');
  });
});

describe('identity.json vectors', () => {
  it.each(vectors.seeds)('seed $seed_hex gives its ed25519 and x25519 keys', (v) => {
    const id = identityFromSeed(fromHex(v.seed_hex));
    expect(toB64u(id.seed)).toBe(v.seed_b64u);
    expect(id.publicKey).toBe(v.ed25519_public_key);
    expect(toHex(id.secretKey)).toBe(v.ed25519_secret_key_hex);
    expect(toHex(id.boxPublicKey)).toBe(v.x25519_public_key_hex);
    expect(toHex(id.boxSecretKey)).toBe(v.x25519_secret_key_hex);
    expect(montgomeryU(v.ed25519_public_key)).toBe(v.x25519_public_key_hex);
    expect(serializeIdentity(id)).toEqual(v.serialized);
    expect(parseIdentity(v.serialized).publicKey).toBe(v.ed25519_public_key);
  });

  it.each(vectors.derive)('account seed $account_seed_hex with label "$label" derives its seed', (v) => {
    const id = deriveIdentity(fromHex(v.account_seed_hex), v.label);
    expect(v.info).toBe(`claudemesh/v1/identity:${v.label}`);
    expect(toHex(id.seed)).toBe(v.derived_seed_hex);
    expect(id.publicKey).toBe(v.ed25519_public_key);
  });

  it.each(vectors.negative)('$op fails with $error: $description', (v) => {
    const ops: Record<IdentityVectors['negative'][number]['op'], (input: unknown) => unknown> = {
      parseIdentity,
      edPublicToBoxPublic: (input) => edPublicToBoxPublic(input as string),
      fromHex: (input) => fromHex(input as string),
      fromB64u: (input) => fromB64u(input as string),
    };
    expect(codeOf(() => ops[v.op](v.input))).toBe(v.error);
  });
});
