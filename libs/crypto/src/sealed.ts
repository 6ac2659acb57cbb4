import { CryptoError } from './errors.js';
import { fromB64u } from './encoding.js';

/** A nonce and a ciphertext, both base64url without padding. */
export interface Sealed {
  nonce: string;
  ciphertext: string;
}

/** Decodes untrusted sealed data; every problem is reported as a decryption failure. */
export function decodeSealed(sealed: Sealed, nonceBytes: number, macBytes: number): { nonce: Uint8Array; ciphertext: Uint8Array } {
  const fail = (why: string): CryptoError => new CryptoError('E_DECRYPT', why);
  if (typeof sealed !== 'object' || sealed === null) throw fail('sealed data must be an object');
  let nonce: Uint8Array;
  let ciphertext: Uint8Array;
  try {
    nonce = fromB64u(sealed.nonce);
    ciphertext = fromB64u(sealed.ciphertext);
  } catch {
    throw fail('nonce or ciphertext is not base64url');
  }
  if (nonce.length !== nonceBytes) throw fail(`nonce must be ${nonceBytes} bytes`);
  if (ciphertext.length < macBytes) throw fail('ciphertext is too short');
  return { nonce, ciphertext };
}
