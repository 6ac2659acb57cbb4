import { CryptoError } from './errors.js';
import { fromB64u, toB64u, toBytes } from './encoding.js';
import { edPublicToBoxPublic, type Identity } from './identity.js';
import { randomBytes } from './random.js';
import { na } from './sodium.js';

/**
 * Anonymous encryption to an ed25519 identity (crypto_box_seal to its x25519 key): the recipient can
 * open it but learns nothing about the sender. Randomised; the result is base64url.
 *
 * Built here from its parts, byte for byte the libsodium sealed box (ephemeral x25519 key `epk`,
 * nonce = BLAKE2b-192(epk ‖ recipient key), crypto_box; output epk ‖ box), so crypto_box_seal_open
 * opens it. The ephemeral secret comes from the pooled CSPRNG (random.ts) rather than libsodium's
 * per-call OS read, and recipients' x25519 keys are converted once: a rotation seals one key to every
 * member, and this halves what each seal costs (docs/crypto.md "Key epochs").
 */
export function sealTo(plaintext: Uint8Array | string, recipientPublicKeyHex: string): string {
  const sodium = na();
  const recipientBox = boxPublicOf(recipientPublicKeyHex);
  const ephemeralSecret = randomBytes(sodium.crypto_box_SECRETKEYBYTES);
  try {
    const ephemeralPublic = sodium.crypto_scalarmult_base(ephemeralSecret);
    const nonceInput = new Uint8Array(ephemeralPublic.length + recipientBox.length);
    nonceInput.set(ephemeralPublic);
    nonceInput.set(recipientBox, ephemeralPublic.length);
    const nonce = sodium.crypto_generichash(sodium.crypto_box_NONCEBYTES, nonceInput, null);
    let box: Uint8Array;
    try {
      box = sodium.crypto_box_easy(toBytes(plaintext), nonce, recipientBox, ephemeralSecret);
    } catch {
      // libsodium refuses a low-order point (the shared secret would be all zeros).
      throw new CryptoError('E_KEY_INVALID', 'recipient key gives a degenerate shared secret');
    }
    const out = new Uint8Array(ephemeralPublic.length + box.length);
    out.set(ephemeralPublic);
    out.set(box, ephemeralPublic.length);
    return toB64u(out);
  } finally {
    sodium.memzero(ephemeralSecret);
  }
}

/** Recipients' x25519 keys by ed25519 key (public data): a member is sealed to at every rotation. */
const boxKeys = new Map<string, Uint8Array>();
const MAX_BOX_KEYS = 20_000;

function boxPublicOf(publicKeyHex: string): Uint8Array {
  const hit = boxKeys.get(publicKeyHex);
  if (hit) return hit;
  const key = edPublicToBoxPublic(publicKeyHex);
  if (boxKeys.size >= MAX_BOX_KEYS) boxKeys.delete(boxKeys.keys().next().value!);
  boxKeys.set(publicKeyHex, key);
  return key;
}

/** Every failure (bad encoding, wrong recipient, tampering) is CryptoError('E_DECRYPT'). */
export function sealOpen(ciphertextB64u: string, recipient: Identity): Uint8Array {
  const sodium = na();
  let ciphertext: Uint8Array;
  try {
    ciphertext = fromB64u(ciphertextB64u);
  } catch {
    throw new CryptoError('E_DECRYPT', 'sealed box is not base64url');
  }
  if (ciphertext.length < sodium.crypto_box_SEALBYTES) throw new CryptoError('E_DECRYPT', 'sealed box is too short');
  try {
    return sodium.crypto_box_seal_open(ciphertext, recipient.boxPublicKey, recipient.boxSecretKey);
  } catch {
    throw new CryptoError('E_DECRYPT', 'sealed box could not be opened');
  }
}
