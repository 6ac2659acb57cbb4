import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromB64u, fromHex, toB64u, toHex } from './encoding.js';
import { generateIdentity, identityFromSeed } from './identity.js';
import { sign, verify } from './signing.js';
import { cryptoReady } from './sodium.js';

await cryptoReady();

const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC8032_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

function nodeVerifies(message: Uint8Array, signatureB64u: string, publicKeyHex: string): boolean {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: toB64u(fromHex(publicKeyHex)) }, format: 'jwk' });
  return nodeVerify(null, message, key, fromB64u(signatureB64u));
}

describe('sign', () => {
  it('reproduces RFC 8032 test 1 (empty message)', () => {
    const id = identityFromSeed(fromHex(RFC8032_SEED));
    const sig = sign(new Uint8Array(0), id.secretKey);
    expect(toHex(fromB64u(sig))).toBe(RFC8032_SIG);
    expect(sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(verify('', sig, RFC8032_PUBLIC)).toBe(true);
  });

  it('produces signatures that Node’s own ed25519 accepts, signing strings as UTF-8', () => {
    const id = generateIdentity();
    fc.assert(
      fc.property(fc.string(), (msg) => {
        const sig = sign(msg, id.secretKey);
        expect(nodeVerifies(new TextEncoder().encode(msg), sig, id.publicKey)).toBe(true);
        expect(sign(new TextEncoder().encode(msg), id.secretKey)).toBe(sig);
      }),
      { numRuns: 50 },
    );
  });

  it('verifies signatures made by Node’s ed25519', () => {
    const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: toB64u(fromHex(RFC8032_SEED)), x: toB64u(fromHex(RFC8032_PUBLIC)) }, format: 'jwk' });
    const message = new TextEncoder().encode('claudemesh');
    expect(verify(message, toB64u(nodeSign(null, message, key)), RFC8032_PUBLIC)).toBe(true);
  });

  it('refuses a secret key that is not 64 bytes', () => {
    expect(() => sign('x', new Uint8Array(32))).toThrow(/E_KEY_INVALID/);
  });
});

describe('verify', () => {
  const id = generateIdentity();
  const sig = sign('hello', id.secretKey);

  it('accepts the right message, signature and key and rejects any change', () => {
    expect(verify('hello', sig, id.publicKey)).toBe(true);
    expect(verify('hellO', sig, id.publicKey)).toBe(false);
    expect(verify('hello', sig, generateIdentity().publicKey)).toBe(false);
    const tampered = fromB64u(sig);
    tampered[10]! ^= 1;
    expect(verify('hello', toB64u(tampered), id.publicKey)).toBe(false);
  });

  it('returns false instead of throwing for any malformed input', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (m, s, k) => {
        expect(verify(m as string, s as string, k as string)).toBe(false);
      }),
    );
    expect(verify('hello', sig, id.publicKey.toUpperCase())).toBe(false);
    expect(verify('hello', sig + '==', id.publicKey)).toBe(false);
    expect(verify('hello', sig, '00'.repeat(32))).toBe(false);
    expect(verify('a\uD800', sig, id.publicKey)).toBe(false);
  });
});
