import { CryptoError } from './errors.js';
import { fromB64u, fromHex, isPublicKeyHex, toB64u, toHex } from './encoding.js';
import { hkdfSha256 } from './hkdf.js';
import { randomBytes } from './random.js';
import { na } from './sodium.js';

export interface Identity {
  /** ed25519 public key, 64 lowercase hex chars (the wire form). */
  publicKey: string;
  /** ed25519 secret key, 64 bytes (seed || public key) as libsodium uses it. */
  secretKey: Uint8Array;
  /** 32-byte seed the whole identity derives from; the only part worth storing. */
  seed: Uint8Array;
  /** x25519 keys derived from the ed25519 pair, for crypto_box and sealed boxes. */
  boxPublicKey: Uint8Array;
  boxSecretKey: Uint8Array;
}

export interface SerializedIdentity {
  v: 1;
  seed: string;
  public_key: string;
}

export const SEED_BYTES = 32;
export const IDENTITY_INFO_PREFIX = 'claudemesh/v1/identity:';
const ZERO_SALT = new Uint8Array(32);

export function generateIdentity(): Identity {
  return identityFromSeed(randomBytes(SEED_BYTES));
}

/** Deterministic: the same seed always gives the same keys (crypto_sign_seed_keypair). */
export function identityFromSeed(seed: Uint8Array): Identity {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new CryptoError('E_KEY_INVALID', `seed must be ${SEED_BYTES} bytes`);
  }
  const sodium = na();
  const pair = sodium.crypto_sign_seed_keypair(seed);
  return {
    publicKey: toHex(pair.publicKey),
    secretKey: pair.privateKey,
    seed: Uint8Array.from(seed),
    boxPublicKey: sodium.crypto_sign_ed25519_pk_to_curve25519(pair.publicKey),
    boxSecretKey: sodium.crypto_sign_ed25519_sk_to_curve25519(pair.privateKey),
  };
}

/**
 * One account seed yields the same identity for a label on every machine:
 * seed = HKDF-SHA256(ikm = accountSeed, salt = 32 zero bytes, info = 'claudemesh/v1/identity:' + label, L = 32).
 */
export function deriveIdentity(accountSeed: Uint8Array, label: string): Identity {
  if (!(accountSeed instanceof Uint8Array) || accountSeed.length < SEED_BYTES) {
    throw new CryptoError('E_KEY_INVALID', `account seed must be at least ${SEED_BYTES} bytes`);
  }
  if (typeof label !== 'string') throw new CryptoError('E_FIELD_INVALID', 'label must be a string');
  return identityFromSeed(hkdfSha256(accountSeed, ZERO_SALT, IDENTITY_INFO_PREFIX + label, SEED_BYTES));
}

export function serializeIdentity(id: Identity): SerializedIdentity {
  return { v: 1, seed: toB64u(id.seed), public_key: id.publicKey };
}

/** Rebuilds an identity from its serialized form and checks the stored public key against the seed. */
export function parseIdentity(json: unknown): Identity {
  const invalid = (why: string): CryptoError => new CryptoError('E_IDENTITY_INVALID', why);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid('expected an object');
  const record = json as Record<string, unknown>;
  if (record.v !== 1) throw invalid('unsupported identity version');
  if (typeof record.seed !== 'string') throw invalid('seed must be a string');
  if (!isPublicKeyHex(record.public_key)) throw invalid('public_key must be 64 lowercase hex chars');
  let seed: Uint8Array;
  try {
    seed = fromB64u(record.seed);
  } catch {
    throw invalid('seed is not base64url');
  }
  if (seed.length !== SEED_BYTES) throw invalid(`seed must be ${SEED_BYTES} bytes`);
  const id = identityFromSeed(seed);
  if (id.publicKey !== record.public_key) throw invalid('public_key does not match seed');
  return id;
}

/** ed25519 public key (hex) → x25519 public key; throws on malformed hex or a point that cannot convert. */
export function edPublicToBoxPublic(publicKeyHex: string): Uint8Array {
  if (!isPublicKeyHex(publicKeyHex)) throw new CryptoError('E_KEY_INVALID', 'public key must be 64 lowercase hex chars');
  try {
    return na().crypto_sign_ed25519_pk_to_curve25519(fromHex(publicKeyHex));
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError('E_KEY_INVALID', 'public key is not a valid ed25519 point');
  }
}
