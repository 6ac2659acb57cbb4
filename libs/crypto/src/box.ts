import { CryptoError } from './errors.js';
import { isPublicKeyHex, toB64u, toBytes, utf8Decode } from './encoding.js';
import { edPublicToBoxPublic, type Identity } from './identity.js';
import { decodeSealed, type Sealed } from './sealed.js';
import { randomBytes } from './random.js';
import { na } from './sodium.js';

/**
 * LRU cache of crypto_box_beforenm shared keys for one identity: the x25519 scalar multiplication
 * dominates crypto_box_easy, and a peer is usually messaged many times.
 */
export class BoxKeyCache {
  readonly ownerPublicKey: string;
  private readonly keys = new Map<string, Uint8Array>();

  constructor(
    private readonly self: Identity,
    private readonly maxEntries = 10_000,
  ) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new CryptoError('E_FIELD_INVALID', 'maxEntries must be a positive integer');
    }
    this.ownerPublicKey = self.publicKey;
  }

  get size(): number {
    return this.keys.size;
  }

  /** Shared key with a peer (ed25519 hex); throws CryptoError('E_KEY_INVALID') for an invalid key. */
  sharedKey(peerPublicKeyHex: string): Uint8Array {
    const hit = this.keys.get(peerPublicKeyHex);
    if (hit) {
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.keys.delete(peerPublicKeyHex);
      this.keys.set(peerPublicKeyHex, hit);
      return hit;
    }
    const key = sharedKeyFor(peerPublicKeyHex, this.self);
    this.keys.set(peerPublicKeyHex, key);
    if (this.keys.size > this.maxEntries) {
      const oldest = this.keys.keys().next();
      if (!oldest.done) this.keys.delete(oldest.value);
    }
    return key;
  }
}

function sharedKeyFor(peerPublicKeyHex: string, self: Identity): Uint8Array {
  const peerBox = edPublicToBoxPublic(peerPublicKeyHex);
  try {
    return na().crypto_box_beforenm(peerBox, self.boxSecretKey);
  } catch {
    // libsodium refuses low-order points (all-zero shared secret).
    throw new CryptoError('E_KEY_INVALID', 'peer public key gives a degenerate shared secret');
  }
}

function checkCache(cache: BoxKeyCache | undefined, self: Identity): void {
  if (cache && cache.ownerPublicKey !== self.publicKey) {
    throw new CryptoError('E_KEY_INVALID', 'BoxKeyCache belongs to another identity');
  }
}

/** @internal Deterministic form for test vectors only; real callers must use boxEncrypt (random nonce). */
export function boxEncryptWithNonce(
  plaintext: string | Uint8Array,
  recipientPublicKeyHex: string,
  sender: Identity,
  nonce: Uint8Array,
  cache?: BoxKeyCache,
): Sealed {
  const sodium = na();
  if (!(nonce instanceof Uint8Array) || nonce.length !== sodium.crypto_box_NONCEBYTES) {
    throw new CryptoError('E_FIELD_INVALID', `nonce must be ${sodium.crypto_box_NONCEBYTES} bytes`);
  }
  checkCache(cache, sender);
  const message = toBytes(plaintext);
  let ciphertext: Uint8Array;
  if (cache) {
    ciphertext = sodium.crypto_box_easy_afternm(message, nonce, cache.sharedKey(recipientPublicKeyHex));
  } else {
    const recipientBox = edPublicToBoxPublic(recipientPublicKeyHex);
    try {
      ciphertext = sodium.crypto_box_easy(message, nonce, recipientBox, sender.boxSecretKey);
    } catch {
      throw new CryptoError('E_KEY_INVALID', 'recipient public key gives a degenerate shared secret');
    }
  }
  return { nonce: toB64u(nonce), ciphertext: toB64u(ciphertext) };
}

/** Authenticated public-key encryption (x25519 + XSalsa20-Poly1305) with a fresh random 24-byte nonce. */
export function boxEncrypt(
  plaintext: string | Uint8Array,
  recipientPublicKeyHex: string,
  sender: Identity,
  cache?: BoxKeyCache,
): Sealed {
  const sodium = na();
  return boxEncryptWithNonce(plaintext, recipientPublicKeyHex, sender, randomBytes(sodium.crypto_box_NONCEBYTES), cache);
}

/** Opens a box from the given sender; every failure (bad encoding, wrong key, tampering) is CryptoError('E_DECRYPT'). */
export function boxDecrypt(sealed: Sealed, senderPublicKeyHex: string, recipient: Identity, cache?: BoxKeyCache): Uint8Array {
  const sodium = na();
  checkCache(cache, recipient);
  const { nonce, ciphertext } = decodeSealed(sealed, sodium.crypto_box_NONCEBYTES, sodium.crypto_box_MACBYTES);
  if (!isPublicKeyHex(senderPublicKeyHex)) throw new CryptoError('E_DECRYPT', 'sender public key is malformed');
  try {
    const key = cache ? cache.sharedKey(senderPublicKeyHex) : sharedKeyFor(senderPublicKeyHex, recipient);
    return sodium.crypto_box_open_easy_afternm(ciphertext, nonce, key);
  } catch {
    throw new CryptoError('E_DECRYPT', 'box could not be opened');
  }
}

/** boxDecrypt, then fatal UTF-8 decoding (invalid UTF-8 is also E_DECRYPT). */
export function boxDecryptText(sealed: Sealed, senderPublicKeyHex: string, recipient: Identity, cache?: BoxKeyCache): string {
  const bytes = boxDecrypt(sealed, senderPublicKeyHex, recipient, cache);
  try {
    return utf8Decode(bytes);
  } catch {
    throw new CryptoError('E_DECRYPT', 'plaintext is not valid UTF-8');
  }
}
