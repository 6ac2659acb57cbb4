import { concatBytes, utf8Encode } from './encoding.js';
import { CryptoError } from './errors.js';
import { randomBytes } from './random.js';
import { na } from './sodium.js';

/**
 * Passphrase-encrypted backup files (docs/crypto.md, "Backup file"). All integers big-endian:
 *
 *   offset  size  field
 *        0     4  magic "CMBK"
 *        4     1  version = 1
 *        5     1  KDF id = 1 (Argon2id v1.3)
 *        6     4  opslimit (u32)
 *       10     4  memlimit (u32, bytes)
 *       14    16  salt
 *       30    24  nonce
 *       54     …  XChaCha20-Poly1305-IETF(payload), associated data = bytes 0..54, 16-byte tag at the end
 *
 * key = crypto_pwhash(32, NFC(passphrase) as UTF-8, salt, opslimit, memlimit, ALG_ARGON2ID13).
 */
export const BACKUP_MAGIC = 'CMBK';
export const BACKUP_VERSION = 1;
export const BACKUP_KDF_ARGON2ID13 = 1;
export const BACKUP_SALT_BYTES = 16;
export const BACKUP_NONCE_BYTES = 24;
export const BACKUP_TAG_BYTES = 16;
export const BACKUP_HEADER_BYTES = 4 + 1 + 1 + 4 + 4 + BACKUP_SALT_BYTES + BACKUP_NONCE_BYTES; // 54
/** Minimum passphrase length, in Unicode code points after NFC normalisation. */
export const BACKUP_MIN_PASSPHRASE_CHARS = 12;
/** Limits a reader accepts (a hostile header must not make it allocate or spin without bound). */
export const BACKUP_MAX_OPSLIMIT = 32;
export const BACKUP_MAX_MEMLIMIT = 1024 * 1024 * 1024; // 1 GiB (= crypto_pwhash_MEMLIMIT_SENSITIVE)
const KEY_BYTES = 32;
const MAGIC_BYTES = utf8Encode(BACKUP_MAGIC);

export interface BackupKdfParams {
  opslimit: number;
  memlimit: number;
}

export interface BackupHeader extends BackupKdfParams {
  version: number;
  kdf: 'argon2id13';
  salt: Uint8Array;
  nonce: Uint8Array;
}

/** Named KDF strengths: `moderate` is the default (≈1 s and 256 MiB); `min` is for tests only. */
export function backupKdfParams(level: 'min' | 'interactive' | 'moderate' | 'sensitive' = 'moderate'): BackupKdfParams {
  const s = na();
  switch (level) {
    case 'min':
      return { opslimit: s.crypto_pwhash_OPSLIMIT_MIN, memlimit: s.crypto_pwhash_MEMLIMIT_MIN };
    case 'interactive':
      return { opslimit: s.crypto_pwhash_OPSLIMIT_INTERACTIVE, memlimit: s.crypto_pwhash_MEMLIMIT_INTERACTIVE };
    case 'moderate':
      return { opslimit: s.crypto_pwhash_OPSLIMIT_MODERATE, memlimit: s.crypto_pwhash_MEMLIMIT_MODERATE };
    case 'sensitive':
      return { opslimit: s.crypto_pwhash_OPSLIMIT_SENSITIVE, memlimit: s.crypto_pwhash_MEMLIMIT_SENSITIVE };
  }
}

const inRange = (p: BackupKdfParams): boolean => {
  const s = na();
  return (
    Number.isSafeInteger(p.opslimit) && p.opslimit >= s.crypto_pwhash_OPSLIMIT_MIN && p.opslimit <= BACKUP_MAX_OPSLIMIT &&
    Number.isSafeInteger(p.memlimit) && p.memlimit >= s.crypto_pwhash_MEMLIMIT_MIN && p.memlimit <= BACKUP_MAX_MEMLIMIT
  );
};

/** The passphrase as the KDF sees it: NFC-normalised UTF-8, at least 12 code points (E_PASSPHRASE_WEAK). */
export function checkBackupPassphrase(passphrase: string): Uint8Array {
  if (typeof passphrase !== 'string') throw new CryptoError('E_PASSPHRASE_WEAK', 'the passphrase must be a string');
  const normalized = passphrase.normalize('NFC');
  const chars = [...normalized].length;
  if (chars < BACKUP_MIN_PASSPHRASE_CHARS) {
    throw new CryptoError('E_PASSPHRASE_WEAK', `the passphrase is ${chars} character${chars === 1 ? '' : 's'} long; use at least ${BACKUP_MIN_PASSPHRASE_CHARS} (a few random words work well)`);
  }
  return utf8Encode(normalized);
}

function passphraseBytes(passphrase: string): Uint8Array {
  if (typeof passphrase !== 'string') throw new CryptoError('E_BACKUP_DECRYPT', 'wrong passphrase, or the file was modified');
  return utf8Encode(passphrase.normalize('NFC'));
}

function encodeHeader(params: BackupKdfParams, salt: Uint8Array, nonce: Uint8Array): Uint8Array {
  const header = new Uint8Array(BACKUP_HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(MAGIC_BYTES, 0);
  header[4] = BACKUP_VERSION;
  header[5] = BACKUP_KDF_ARGON2ID13;
  view.setUint32(6, params.opslimit, false);
  view.setUint32(10, params.memlimit, false);
  header.set(salt, 14);
  header.set(nonce, 30);
  return header;
}

function deriveKey(password: Uint8Array, salt: Uint8Array, params: BackupKdfParams): Uint8Array {
  const s = na();
  return s.crypto_pwhash(KEY_BYTES, password, salt, params.opslimit, params.memlimit, s.crypto_pwhash_ALG_ARGON2ID13);
}

/**
 * Reads and checks the header without the passphrase (to show the KDF cost before paying it).
 * Bad magic → E_BACKUP_NOT_BACKUP; other version or KDF, or parameters beyond this reader's limits →
 * E_BACKUP_UNSUPPORTED; too short, or parameters below libsodium's minimum → E_BACKUP_CORRUPTED.
 */
export function readBackupHeader(file: Uint8Array): BackupHeader {
  const s = na();
  if (!(file instanceof Uint8Array)) throw new CryptoError('E_BACKUP_NOT_BACKUP', 'not a claudemesh backup (expected bytes)');
  if (file.length < MAGIC_BYTES.length || !MAGIC_BYTES.every((b, i) => file[i] === b)) {
    throw new CryptoError('E_BACKUP_NOT_BACKUP', 'not a claudemesh backup (it does not start with CMBK)');
  }
  const truncated = (): CryptoError =>
    new CryptoError('E_BACKUP_CORRUPTED', `the backup is truncated (${file.length} bytes; even an empty one has ${BACKUP_HEADER_BYTES + BACKUP_TAG_BYTES})`);
  if (file.length < 5) throw truncated();
  if (file[4] !== BACKUP_VERSION) {
    throw new CryptoError('E_BACKUP_UNSUPPORTED', `backup format version ${file[4]} is not supported (this build reads version ${BACKUP_VERSION}); upgrade claudemesh`);
  }
  if (file.length < 6) throw truncated();
  if (file[5] !== BACKUP_KDF_ARGON2ID13) {
    throw new CryptoError('E_BACKUP_UNSUPPORTED', `backup KDF id ${file[5]} is not supported (this build knows 1 = Argon2id13)`);
  }
  if (file.length < BACKUP_HEADER_BYTES + BACKUP_TAG_BYTES) throw truncated();
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const params = { opslimit: view.getUint32(6, false), memlimit: view.getUint32(10, false) };
  if (params.opslimit < s.crypto_pwhash_OPSLIMIT_MIN || params.memlimit < s.crypto_pwhash_MEMLIMIT_MIN) {
    throw new CryptoError('E_BACKUP_CORRUPTED', `the backup header is corrupted (Argon2id opslimit ${params.opslimit}, memlimit ${params.memlimit} are below the minimum)`);
  }
  if (!inRange(params)) {
    throw new CryptoError(
      'E_BACKUP_UNSUPPORTED',
      `the backup asks for Argon2id opslimit ${params.opslimit}, memlimit ${params.memlimit} bytes, beyond this build's limits (${BACKUP_MAX_OPSLIMIT}, ${BACKUP_MAX_MEMLIMIT}); the header is probably corrupted`,
    );
  }
  return {
    version: BACKUP_VERSION,
    kdf: 'argon2id13',
    ...params,
    salt: file.slice(14, 30),
    nonce: file.slice(30, BACKUP_HEADER_BYTES),
  };
}

/** @internal Deterministic form for test vectors only; real callers use encryptBackup (random salt and nonce). */
export function encryptBackupWith(plaintext: Uint8Array, passphrase: string, params: BackupKdfParams, salt: Uint8Array, nonce: Uint8Array): Uint8Array {
  const s = na();
  if (!(plaintext instanceof Uint8Array)) throw new CryptoError('E_FIELD_INVALID', 'the backup plaintext must be bytes');
  const password = checkBackupPassphrase(passphrase);
  if (!inRange(params)) {
    throw new CryptoError('E_FIELD_INVALID', `Argon2id opslimit must be ${s.crypto_pwhash_OPSLIMIT_MIN}..${BACKUP_MAX_OPSLIMIT} and memlimit ${s.crypto_pwhash_MEMLIMIT_MIN}..${BACKUP_MAX_MEMLIMIT} bytes`);
  }
  if (!(salt instanceof Uint8Array) || salt.length !== s.crypto_pwhash_SALTBYTES) throw new CryptoError('E_FIELD_INVALID', `salt must be ${s.crypto_pwhash_SALTBYTES} bytes`);
  if (!(nonce instanceof Uint8Array) || nonce.length !== s.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES) {
    throw new CryptoError('E_FIELD_INVALID', `nonce must be ${s.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES} bytes`);
  }
  const header = encodeHeader(params, salt, nonce);
  const key = deriveKey(password, salt, params);
  try {
    return concatBytes(header, s.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, header, null, nonce, key));
  } finally {
    s.memzero(key);
    s.memzero(password);
  }
}

/**
 * Encrypts `plaintext` under a key stretched from `passphrase` with Argon2id (default: libsodium's
 * MODERATE, ≈1 s and 256 MiB), a random 16-byte salt and a random 24-byte nonce.
 * A passphrase shorter than 12 code points is refused (E_PASSPHRASE_WEAK).
 */
export function encryptBackup(plaintext: Uint8Array, passphrase: string, params: BackupKdfParams = backupKdfParams('moderate')): Uint8Array {
  const s = na();
  return encryptBackupWith(plaintext, passphrase, params, randomBytes(s.crypto_pwhash_SALTBYTES), randomBytes(s.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES));
}

/**
 * Opens a backup. Header problems throw the codes of readBackupHeader; a wrong passphrase and a
 * modified or cut file are indistinguishable to the AEAD and both throw E_BACKUP_DECRYPT.
 */
export function decryptBackup(file: Uint8Array, passphrase: string): Uint8Array {
  const s = na();
  const header = readBackupHeader(file);
  const password = passphraseBytes(passphrase);
  const key = deriveKey(password, header.salt, header);
  try {
    return s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, file.subarray(BACKUP_HEADER_BYTES), file.subarray(0, BACKUP_HEADER_BYTES), header.nonce, key);
  } catch {
    throw new CryptoError('E_BACKUP_DECRYPT', 'wrong passphrase, or the file was modified');
  } finally {
    s.memzero(key);
    s.memzero(password);
  }
}
