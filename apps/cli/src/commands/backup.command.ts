import { claudemeshHome } from '@claudemesh/core';
import { checkBackupPassphrase, cryptoReady, encryptBackup } from '@claudemesh/crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'nest-commander';
import { PassphraseVerb } from '../backup/passphrase-verb.js';
import { collectHome, encodeArchive } from '../backup/archive.js';
import { collectLocal, snapshotSize } from '../backup/local-data.js';
import { writeSecretFile } from '../backup/files.js';
import { backupFailure, kdfFromEnv, withKdfProgress } from '../backup/kdf.js';
import { obtainPassphrase } from '../backup/passphrase.js';
import { CliError, EXIT, print } from '../context.js';

export interface BackupOptions {
  force?: boolean;
  json?: boolean;
  passphraseFile?: string;
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** `claudemesh-<YYYY-MM-DD>.cmb` (UTC date) in the current directory. */
export const defaultBackupName = (now = new Date()): string => `claudemesh-${now.toISOString().slice(0, 10)}.cmb`;

/**
 * `backup [file.cmb]`: the account seed, every joined mesh, the config files of this home and
 * local.db's records (verified peers, inbox history, grants, presence), in one file encrypted under a passphrase (Argon2id + XChaCha20-Poly1305; docs/crypto.md, "Backup file").
 */
@Command({
  name: 'backup',
  arguments: '[file]',
  description: 'Write an encrypted backup of your identity, meshes, config, verified peers and inbox (default: ./claudemesh-<date>.cmb)',
})
export class BackupCommand extends PassphraseVerb {
  async run([file]: string[], options: BackupOptions): Promise<void> {
    await cryptoReady();
    const home = claudemeshHome();
    const archive = collectHome(home);
    const local = collectLocal(home);
    if (local.snapshot) archive.local = local.snapshot;
    // The identity is what matters most: back it up even when local.db is damaged, and say what is missing.
    if (local.unreadable) process.stderr.write(`claudemesh: ${home}/local.db cannot be read (${local.unreadable}); verified peers and the inbox history are not in this backup\n`);
    if (archive.files.size === 0) throw new CliError(`nothing to back up under ${home}; run claudemesh init, or join a mesh first`, EXIT.noMesh);
    const target = resolve(file ?? defaultBackupName());
    if (existsSync(target) && !options.force) throw new CliError(`${target} exists; pick another file name or add --force to overwrite it`, EXIT.usage);
    const params = kdfFromEnv();
    const passphrase = await obtainPassphrase({ confirm: true, ...(options.passphraseFile !== undefined ? { passphraseFile: options.passphraseFile } : {}) });
    let bytes: Uint8Array;
    let ms: number;
    try {
      checkBackupPassphrase(passphrase);
      ({ result: bytes, ms } = withKdfProgress(params, () => encryptBackup(encodeArchive(archive), passphrase, params)));
    } catch (error) {
      throw backupFailure(error, target, 'back up to');
    }
    writeSecretFile(target, bytes, options.force ?? false);
    const files = [...archive.files.keys()].sort();
    const meshes = files.filter((f) => f.startsWith('meshes/')).length;
    const records = archive.local ? snapshotSize(archive.local) : null;
    print(
      options.json ?? false,
      { file: target, bytes: bytes.length, files, local: records, kdf: { alg: 'argon2id13', opslimit: params.opslimit, memlimit: params.memlimit, ms } },
      [
        `backup written to ${target} (0600, ${bytes.length} bytes): ${files.length} file${files.length === 1 ? '' : 's'}, ${meshes} mesh${meshes === 1 ? '' : 'es'}${files.includes('account.json') ? ', the account seed' : ''}${records ? `, ${plural(records.inbox, 'inbox message')}, ${plural(records.verified_peers, 'verified peer')}` : ''}`,
        'keep the passphrase apart from the file: without it the backup cannot be opened, by anyone',
        `next, on the other machine: claudemesh restore ${target}`,
      ].join('\n'),
    );
  }

  @Option({ flags: '--force', description: 'overwrite an existing backup file' })
  parseForce(): boolean {
    return true;
  }
}
