import { CryptoError } from './errors.js';
import { fromB64u, fromHex, isPublicKeyHex, toB64u, toBytes } from './encoding.js';
import { na } from './sodium.js';

const SIGNATURE_BYTES = 64;
const SECRET_KEY_BYTES = 64;

/** Detached ed25519 signature as base64url; strings are signed as their UTF-8 bytes. */
export function sign(message: string | Uint8Array, secretKey: Uint8Array): string {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== SECRET_KEY_BYTES) {
    throw new CryptoError('E_KEY_INVALID', `ed25519 secret key must be ${SECRET_KEY_BYTES} bytes`);
  }
  return toB64u(na().crypto_sign_detached(toBytes(message), secretKey));
}

/** Never throws on bad input: any malformed input (encoding, lengths, points, strings) is simply "not valid". */
export function verify(message: string | Uint8Array, signatureB64u: string, publicKeyHex: string): boolean {
  // Outside the try: forgetting cryptoReady() is a bug to surface, not an invalid signature.
  const sodium = na();
  try {
    if (!isPublicKeyHex(publicKeyHex) || typeof signatureB64u !== 'string') return false;
    const signature = fromB64u(signatureB64u);
    if (signature.length !== SIGNATURE_BYTES) return false;
    return sodium.crypto_sign_verify_detached(signature, toBytes(message), fromHex(publicKeyHex));
  } catch {
    return false;
  }
}
