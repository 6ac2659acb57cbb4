/**
 * One-time web sign-in links (docs/protocol.md §8.5). `claudemesh web` makes a narrow API key, seals
 * it under a fresh random code and deposits only the code's lookup and the sealed key on the broker;
 * the code itself travels in the link's fragment (`/#/signin?code=…`), which a browser never sends
 * to a server. The page derives the lookup, takes the sealed key (once) and opens it. So the broker,
 * its logs and its database never hold a usable key for the link, and a used link is dead.
 *
 *   lookup = HKDF-SHA256(ikm = code bytes, salt = "", info = "claudemesh/v1/web-signin-lookup", 32)
 *   key    = HKDF-SHA256(ikm = code bytes, salt = "", info = "claudemesh/v1/web-signin-key", 32)
 *   sealed = nonce (12) ‖ AES-256-GCM(key, nonce, UTF-8 API key, aad = "claudemesh/v1/web-signin")
 *
 * Written against WebCrypto only (Node 20's globalThis.crypto and every browser), with no other
 * import, so the web app bundles this very file and both sides share one implementation and one
 * test vector (docs/test-vectors/web-signin.json).
 */

export const WEB_SIGNIN_CODE_BYTES = 32;
const LOOKUP_INFO = 'claudemesh/v1/web-signin-lookup';
const KEY_INFO = 'claudemesh/v1/web-signin-key';
const AAD = 'claudemesh/v1/web-signin';
const NONCE_BYTES = 12;
/** The path and fragment of a sign-in link, after the broker's HTTP origin. */
export const WEB_SIGNIN_FRAGMENT = '/#/signin?code=';

const subtle = () => globalThis.crypto.subtle;
const utf8 = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text);

export function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new WebSignInError('not base64url');
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export class WebSignInError extends Error {
  override readonly name = 'WebSignInError';
}

function codeBytes(code: string): Uint8Array<ArrayBuffer> {
  const wrong = new WebSignInError(`a sign-in code is ${WEB_SIGNIN_CODE_BYTES} bytes of base64url (43 characters); copy the whole link`);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64Url(code.trim());
  } catch {
    throw wrong;
  }
  if (bytes.length !== WEB_SIGNIN_CODE_BYTES || toBase64Url(bytes) !== code.trim()) throw wrong;
  return bytes;
}

async function derive(code: string, info: string): Promise<Uint8Array<ArrayBuffer>> {
  const ikm = await subtle().importKey('raw', codeBytes(code), 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8(info) }, ikm, 256));
}

async function aesKey(code: string) {
  return subtle().importKey('raw', await derive(code, KEY_INFO), 'AES-GCM', false, ['encrypt', 'decrypt']);
}

/** A fresh code (32 random bytes, base64url: 43 characters). */
export function newWebSignInCode(): string {
  return toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(WEB_SIGNIN_CODE_BYTES)));
}

/** What the broker files the sealed key under. */
export async function webSignInLookup(code: string): Promise<string> {
  return toBase64Url(await derive(code, LOOKUP_INFO));
}

/** Seals `apiKey` under `code` (a fixed nonce only for the test vector). */
export async function sealWebSignIn(code: string, apiKey: string, nonce: Uint8Array<ArrayBuffer> = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES))): Promise<string> {
  if (nonce.length !== NONCE_BYTES) throw new WebSignInError(`the nonce is ${NONCE_BYTES} bytes`);
  const box = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: nonce, additionalData: utf8(AAD) }, await aesKey(code), utf8(apiKey)));
  const out = new Uint8Array(NONCE_BYTES + box.length);
  out.set(nonce);
  out.set(box, NONCE_BYTES);
  return toBase64Url(out);
}

/** Opens what the broker handed back for `code`; a wrong code or a changed byte throws. */
export async function openWebSignIn(code: string, sealed: string): Promise<string> {
  const bytes = fromBase64Url(sealed);
  if (bytes.length < NONCE_BYTES + 16) throw new WebSignInError('the sealed sign-in key is too short');
  try {
    const plain = await subtle().decrypt({ name: 'AES-GCM', iv: bytes.slice(0, NONCE_BYTES), additionalData: utf8(AAD) }, await aesKey(code), bytes.slice(NONCE_BYTES));
    return new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch {
    throw new WebSignInError('this sign-in link does not open its key (wrong or damaged link)');
  }
}

/** The link a browser opens: the broker's HTTP origin, the app, the code in the fragment. */
export function webSignInLink(httpBase: string, code: string): string {
  return `${httpBase.replace(/\/+$/, '')}${WEB_SIGNIN_FRAGMENT}${code}`;
}
