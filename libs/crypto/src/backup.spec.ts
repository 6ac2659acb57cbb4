import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BACKUP_HEADER_BYTES, backupKdfParams, decryptBackup, encryptBackup, encryptBackupWith, readBackupHeader, type BackupKdfParams,
} from './backup.js';
import { fromHex, toHex, utf8Encode } from './encoding.js';
import { na, cryptoReady } from './sodium.js';
import { codeOf } from '../test/code-of.js';

interface BackupCase {
  description: string;
  passphrase: string;
  passphrase_equivalents?: string[];
  plaintext_utf8?: string;
  plaintext_hex?: string;
  opslimit: number;
  memlimit: number;
  salt_hex: string;
  nonce_hex: string;
  key_hex: string;
  header_hex: string;
  file_hex: string;
}
interface BackupVectors {
  cases: BackupCase[];
  accepted_passphrases: string[];
  negative: { description: string; file_hex: string; passphrase: string; error: string }[];
  negative_encrypt: { description: string; passphrase: string; opslimit: number; memlimit: number; salt_hex: string; nonce_hex: string; error: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../../docs/test-vectors/backup.json', import.meta.url), 'utf8')) as BackupVectors;

await cryptoReady();

const plaintextOf = (c: BackupCase): Uint8Array => (c.plaintext_utf8 !== undefined ? utf8Encode(c.plaintext_utf8) : fromHex(c.plaintext_hex ?? ''));
const paramsOf = (c: { opslimit: number; memlimit: number }): BackupKdfParams => ({ opslimit: c.opslimit, memlimit: c.memlimit });
const MIN = (): BackupKdfParams => backupKdfParams('min');

describe('backup file vectors', () => {
  it('has positive and negative cases', () => {
    expect(vectors.cases.length).toBeGreaterThanOrEqual(3);
    expect(vectors.negative.length).toBeGreaterThanOrEqual(20);
  });

  for (const c of vectors.cases) {
    it(`encrypts to the exact bytes: ${c.description}`, () => {
      const file = encryptBackupWith(plaintextOf(c), c.passphrase, paramsOf(c), fromHex(c.salt_hex), fromHex(c.nonce_hex));
      expect(toHex(file)).toBe(c.file_hex);
      expect(toHex(file.subarray(0, BACKUP_HEADER_BYTES))).toBe(c.header_hex);
    });

    it(`decrypts back (every equivalent spelling of the passphrase): ${c.description}`, () => {
      for (const p of [c.passphrase, ...(c.passphrase_equivalents ?? [])]) {
        expect(toHex(decryptBackup(fromHex(c.file_hex), p))).toBe(toHex(plaintextOf(c)));
      }
    });

    it(`lays the header out byte by byte and binds it as associated data: ${c.description}`, () => {
      const sodium = na();
      const file = Buffer.from(c.file_hex, 'hex');
      expect(file.subarray(0, 4).toString('latin1')).toBe('CMBK');
      expect([file[4], file[5]]).toEqual([1, 1]);
      expect(file.readUInt32BE(6)).toBe(c.opslimit);
      expect(file.readUInt32BE(10)).toBe(c.memlimit);
      expect(file.subarray(14, 30).toString('hex')).toBe(c.salt_hex);
      expect(file.subarray(30, 54).toString('hex')).toBe(c.nonce_hex);
      expect(file.length).toBe(54 + plaintextOf(c).length + 16);
      expect(readBackupHeader(file)).toMatchObject({ version: 1, kdf: 'argon2id13', opslimit: c.opslimit, memlimit: c.memlimit });
      // The key is libsodium's Argon2id13 of the NFC passphrase, independently of backup.ts.
      const key = sodium.crypto_pwhash(32, utf8Encode(c.passphrase.normalize('NFC')), fromHex(c.salt_hex), c.opslimit, c.memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13);
      expect(toHex(key)).toBe(c.key_hex);
      const body = file.subarray(54);
      const nonce = file.subarray(30, 54);
      expect(toHex(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, body, file.subarray(0, 54), nonce, key))).toBe(toHex(plaintextOf(c)));
      // Without the header as associated data the same key and nonce do not open it.
      expect(() => sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, body, null, nonce, key)).toThrow();
    });
  }

  for (const n of vectors.negative) {
    it(`refuses with ${n.error}: ${n.description}`, () => {
      expect(codeOf(() => decryptBackup(fromHex(n.file_hex), n.passphrase))).toBe(n.error);
    });
  }

  for (const n of vectors.negative_encrypt) {
    it(`refuses to encrypt with ${n.error}: ${n.description}`, () => {
      expect(codeOf(() => encryptBackupWith(new Uint8Array(3), n.passphrase, paramsOf(n), fromHex(n.salt_hex), fromHex(n.nonce_hex)))).toBe(n.error);
    });
  }

  it('accepts passphrases of 12 code points or more (counted after NFC, not in UTF-16 units)', () => {
    for (const p of vectors.accepted_passphrases) {
      const file = encryptBackup(utf8Encode('x'), p, MIN());
      expect(decryptBackup(file, p)).toEqual(utf8Encode('x'));
    }
  });
});

describe('backup errors and properties', () => {
  it('says what went wrong in words a person can act on', () => {
    const file = encryptBackup(utf8Encode('secret'), 'a long enough passphrase', MIN());
    expect(() => decryptBackup(file, 'another long passphrase')).toThrow(/E_BACKUP_DECRYPT: wrong passphrase, or the file was modified/);
    expect(() => decryptBackup(utf8Encode('hello world, not a backup at all, really, no'), 'x')).toThrow(/not a claudemesh backup/);
    expect(() => decryptBackup(file.subarray(0, 30), 'x')).toThrow(/truncated/);
    expect(() => encryptBackup(utf8Encode('x'), 'short', MIN())).toThrow(/E_PASSPHRASE_WEAK: the passphrase is 5 characters long; use at least 12/);
  });

  it('uses a fresh salt and nonce each time, so equal inputs give unrelated files', () => {
    const a = encryptBackup(utf8Encode('same'), 'the same passphrase', MIN());
    const b = encryptBackup(utf8Encode('same'), 'the same passphrase', MIN());
    expect(toHex(a.subarray(14, 30))).not.toBe(toHex(b.subarray(14, 30)));
    expect(toHex(a.subarray(30, 54))).not.toBe(toHex(b.subarray(30, 54)));
    expect(toHex(a.subarray(54))).not.toBe(toHex(b.subarray(54)));
  });

  it('detects every single-byte change of a file', () => {
    const file = encryptBackup(utf8Encode('{"v":1}'), 'a long enough passphrase', MIN());
    for (let i = 0; i < file.length; i++) {
      const bad = file.slice();
      bad[i]! ^= 0x01;
      expect(codeOf(() => decryptBackup(bad, 'a long enough passphrase')), `byte ${i}`).toMatch(/^E_BACKUP_/);
    }
  });

  it('round-trips with the default parameters (Argon2id MODERATE: 3 passes, 256 MiB)', () => {
    const sodium = na();
    expect(backupKdfParams()).toEqual({ opslimit: sodium.crypto_pwhash_OPSLIMIT_MODERATE, memlimit: sodium.crypto_pwhash_MEMLIMIT_MODERATE });
    const payload = utf8Encode(JSON.stringify({ v: 1, created_at: 0, files: { 'account.json': 'e30' } }));
    const file = encryptBackup(payload, 'correct horse battery staple');
    const header = readBackupHeader(file);
    expect(header).toMatchObject({ opslimit: 3, memlimit: 268_435_456 });
    expect(decryptBackup(file, 'correct horse battery staple')).toEqual(payload);
    expect(codeOf(() => decryptBackup(file, 'correct horse battery stapler'))).toBe('E_BACKUP_DECRYPT');
  }, 60_000);
});
