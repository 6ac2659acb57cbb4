import { CryptoError } from './errors.js';
import { concatBytes, isPublicKeyHex, toB64u, toBytes, utf8Decode, utf8Encode } from './encoding.js';
import type { EpochContext, EpochMessage } from './epoch-types.js';
import type { Identity } from './identity.js';
import { randomBytes } from './random.js';
import { decodeSealed } from './sealed.js';
import { sign, verify } from './signing.js';
import { epochMessageString, type EpochMessageFields } from './signed-strings.js';
import { na } from './sodium.js';

/**
 * Messages under an epoch key (body_version 2). The AEAD proves a member of the epoch wrote the
 * ciphertext for this mesh, scope, epoch, sender and message id; the sender's signature over the
 * same associated data, the nonce and the ciphertext proves which member, since every member holds
 * the AEAD key.
 */

/** The protocol's client message id (§1.1): chosen by the sender, unique per sender member. */
const MESSAGE_ID_RE = /^[A-Za-z0-9_-]{8,64}$/;
const NEWLINE = Uint8Array.of(0x0a);

export interface EncryptEpochMessageOptions {
  context: EpochContext;
  sender: Identity;
  /** The sender's client id for this message (`^[A-Za-z0-9_-]{8,64}$`). */
  messageId: string;
  /** The `mesh` scope only (required there): the target, `@name` or `*`, bound into the associated data. */
  target?: string;
  plaintext: string | Uint8Array;
}

export interface DecryptEpochMessageOptions {
  context: EpochContext;
  /** The member key the message claims as its sender. */
  sender: string;
  messageId: string;
  /** The `mesh` scope only (required there): the target the message arrived for. */
  target?: string;
}

/** The associated data as bytes: UTF-8 of epochMessageString for this epoch, sender, message id and (mesh scope) target. */
export function epochMessageAssociatedData(context: EpochContext, sender: string, messageId: string, target?: string): Uint8Array {
  if (!isPublicKeyHex(sender)) throw new CryptoError('E_FIELD_INVALID', 'sender must be 64 lowercase hex chars');
  if (typeof messageId !== 'string' || !MESSAGE_ID_RE.test(messageId)) throw new CryptoError('E_FIELD_INVALID', 'messageId must match ^[A-Za-z0-9_-]{8,64}$');
  const m = context.manifest;
  return utf8Encode(epochMessageString({
    meshId: m.mesh_id, scope: m.scope, epoch: m.epoch, manifestHash: context.manifestHash, sender, messageId, ...(target !== undefined ? { target } : {}),
  }));
}

/** What the sender signs: the associated data, a newline (it ends the last line), the nonce, the ciphertext. */
function signedBytes(ad: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return concatBytes(ad, NEWLINE, nonce, ciphertext);
}

/** @internal Deterministic form for test vectors only; real callers must use encryptEpochMessage (random nonce). */
export function encryptEpochMessageWithNonce(opts: EncryptEpochMessageOptions, nonce: Uint8Array): EpochMessage {
  const sodium = na();
  if (!(nonce instanceof Uint8Array) || nonce.length !== sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES) {
    throw new CryptoError('E_FIELD_INVALID', `nonce must be ${sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES} bytes`);
  }
  const { context, sender } = opts;
  // Refusing here keeps a client from writing what every other member would refuse to read.
  if (!context.members.has(sender.publicKey)) throw new CryptoError('E_SENDER_UNAUTHORIZED', 'the sender is not a member of this epoch');
  const ad = epochMessageAssociatedData(context, sender.publicKey, opts.messageId, opts.target);
  const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(toBytes(opts.plaintext), ad, null, nonce, context.messageKey);
  return { nonce: toB64u(nonce), ciphertext: toB64u(ciphertext), sig: sign(signedBytes(ad, nonce, ciphertext), sender.secretKey) };
}

/** XChaCha20-Poly1305-IETF under the epoch's message key with a fresh random 24-byte nonce, signed by the sender. */
export function encryptEpochMessage(opts: EncryptEpochMessageOptions): EpochMessage {
  return encryptEpochMessageWithNonce(opts, randomBytes(na().crypto_aead_xchacha20poly1305_ietf_NPUBBYTES));
}

/**
 * In this order: sender and message id well-formed (E_FIELD_INVALID); the sender a member of the
 * epoch (E_SENDER_UNAUTHORIZED); nonce and ciphertext well-formed (E_DECRYPT); the sender's signature
 * (E_BAD_SIGNATURE: forged, altered, or moved to another scope, epoch, id, sender or target); the AEAD
 * (E_DECRYPT: a genuine sender whose ciphertext does not open under the key held for this epoch).
 */
export function decryptEpochMessage(message: EpochMessage, opts: DecryptEpochMessageOptions): Uint8Array {
  const sodium = na();
  const { context } = opts;
  const ad = epochMessageAssociatedData(context, opts.sender, opts.messageId, opts.target);
  if (!context.members.has(opts.sender)) throw new CryptoError('E_SENDER_UNAUTHORIZED', 'the sender is not a member of this epoch');
  const { nonce, ciphertext } = decodeSealed(message, sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES);
  if (!verify(signedBytes(ad, nonce, ciphertext), message.sig, opts.sender)) {
    throw new CryptoError('E_BAD_SIGNATURE', 'the message is not signed by its sender for this scope, epoch and id');
  }
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, ad, nonce, context.messageKey);
  } catch {
    throw new CryptoError('E_DECRYPT', "the message does not open under this epoch's key");
  }
}

/**
 * The sender's signature alone, from public fields: what a broker checks before it stores a
 * message it cannot open, so a forged or re-labelled post (another mesh, scope, epoch, sender or
 * id) is refused up front. False for a malformed nonce, ciphertext or signature; never throws on
 * wire input. Readers still run decryptEpochMessage, which checks this and the AEAD.
 */
export function verifyEpochMessageSignature(message: EpochMessage, fields: EpochMessageFields): boolean {
  const sodium = na();
  if (!isPublicKeyHex(fields.sender) || typeof fields.messageId !== 'string' || !MESSAGE_ID_RE.test(fields.messageId)) return false;
  let decoded: { nonce: Uint8Array; ciphertext: Uint8Array };
  try {
    decoded = decodeSealed(message, sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES);
  } catch {
    return false;
  }
  let ad: Uint8Array;
  try {
    ad = utf8Encode(epochMessageString(fields));
  } catch {
    return false;
  }
  return verify(signedBytes(ad, decoded.nonce, decoded.ciphertext), message.sig, fields.sender);
}

/** decryptEpochMessage, then fatal UTF-8 decoding (invalid UTF-8 is E_DECRYPT). */
export function decryptEpochMessageText(message: EpochMessage, opts: DecryptEpochMessageOptions): string {
  const bytes = decryptEpochMessage(message, opts);
  try {
    return utf8Decode(bytes);
  } catch {
    throw new CryptoError('E_DECRYPT', 'plaintext is not valid UTF-8');
  }
}
