import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CreateWebSignInBody, WebSessionBody, fromBase64Url, newWebSignInCode, openWebSignIn, sealWebSignIn, webSignInLink, webSignInLookup } from '../src/index.js';

const vector = JSON.parse(readFileSync(fileURLToPath(new URL('../../../docs/test-vectors/web-signin.json', import.meta.url)), 'utf8')) as {
  code: string; api_key: string; nonce_b64u: string; lookup: string; sealed: string; link: string;
};

/** docs/protocol.md §8.5: the vector was made with node:crypto (hkdfSync, aes-256-gcm); the module uses WebCrypto. */
describe('web sign-in links (docs/test-vectors/web-signin.json)', () => {
  it('derive the vector’s lookup, seal and link', async () => {
    expect(await webSignInLookup(vector.code)).toBe(vector.lookup);
    expect(await sealWebSignIn(vector.code, vector.api_key, fromBase64Url(vector.nonce_b64u))).toBe(vector.sealed);
    expect(await openWebSignIn(vector.code, vector.sealed)).toBe(vector.api_key);
    expect(webSignInLink('https://mesh.example/', vector.code)).toBe(vector.link);
    expect(CreateWebSignInBody.parse({ lookup: vector.lookup, sealed: vector.sealed })).toEqual({ lookup: vector.lookup, sealed: vector.sealed, expires_in_s: 600 });
    expect(WebSessionBody.safeParse({ lookup: vector.lookup }).success).toBe(true);
  });

  it('do not open with another code or a changed byte, and refuse a malformed code', async () => {
    await expect(openWebSignIn(newWebSignInCode(), vector.sealed)).rejects.toThrow(/does not open/);
    const bytes = fromBase64Url(vector.sealed);
    bytes[20]! ^= 1;
    await expect(openWebSignIn(vector.code, Buffer.from(bytes).toString('base64url'))).rejects.toThrow(/does not open/);
    await expect(webSignInLookup('short')).rejects.toThrow(/32 bytes/);
    await expect(webSignInLookup(`${vector.code}x`)).rejects.toThrow(/32 bytes/);
    await expect(webSignInLookup(vector.code.replace(/.$/, '!'))).rejects.toThrow(/32 bytes of base64url/);
  });

  it('make fresh 43-character codes, and a fresh nonce per seal', async () => {
    const a = newWebSignInCode();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(newWebSignInCode());
    expect(await sealWebSignIn(a, 'k')).not.toBe(await sealWebSignIn(a, 'k'));
  });
});
