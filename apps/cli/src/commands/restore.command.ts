import { claudemeshHome } from '@claudemesh/core';
import { cryptoReady, decryptBackup, readBackupHeader, type BackupHeader } from '@claudemesh/crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'nest-commander';
import { PassphraseVerb } from '../backup/passphrase-verb.js';
import { decodeArchive } from '../backup/archive.js';
import { backupFailure, withKdfProgress } from '../backup/kdf.js';
import { obtainPassphrase } from '../backup/passphrase.js';
import { restoreLocal } from '../backup/local-data.js';
import { applyRestore, checkClobber, planRestore } from '../backup/restore.js';
import { CliError, EXIT, print } from '../context.js';

interface RestoreOptions {
  force?: boolean;
  json?: boolean;
  passphraseFile?: string;
}

/**
 * `restore <file.cmb> [--force]`: writes the files of a backup into CLAUDEMESH_HOME. Nothing is
 * written unless the passphrase opens the file and every file in it checks out; an existing
 * account or mesh file that differs is kept unless --force.
 */
@Command({
  name: 'restore',
  arguments: '<file>',
  description: 'Restore a backup written by claudemesh backup into this home [--force to replace a different identity]',
})
export class RestoreCommand extends PassphraseVerb {
  async run([file]: string[], options: RestoreOptions): Promise<void> {
    if (!file) throw new CliError('which backup? claudemesh restore <file.cmb>', EXIT.usage);
    await cryptoReady();
    const home = claudemeshHome();
    const source = resolve(file);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(source));
    } catch (error) {
      throw new CliError(`cannot read ${source} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, EXIT.usage);
    }
    let header: BackupHeader;
    try {
      header = readBackupHeader(bytes);
    } catch (error) {
      throw backupFailure(error, source, 'restore');
    }
    const passphrase = await obtainPassphrase({ confirm: false, ...(options.passphraseFile !== undefined ? { passphraseFile: options.passphraseFile } : {}) });
    let plaintext: Uint8Array;
    try {
      plaintext = withKdfProgress(header, () => decryptBackup(bytes, passphrase)).result;
    } catch (error) {
      throw backupFailure(error, source, 'restore');
    }
    const archive = decodeArchive(plaintext);
    const plan = planRestore(home, archive);
    const force = options.force ?? false;
    checkClobber(home, plan, force);
    const written = [...plan.write, ...(force ? plan.differing : [])].sort();
    applyRestore(home, archive, written);
    // Records merge: nothing here is lost, so this needs no --force (LocalStore.importSnapshot).
    const merged = archive.local ? restoreLocal(home, archive.local) : null;
    const replaced = force ? plan.differing : [];
    print(
      options.json ?? false,
      { home, file: source, created_at: archive.createdAt, written, replaced, unchanged: plan.unchanged, local: merged },
      [
        `restored ${written.length} file${written.length === 1 ? '' : 's'} into ${home}${replaced.length ? ` (replaced: ${replaced.join(', ')})` : ''}${plan.unchanged.length ? `; ${plan.unchanged.length} already identical` : ''}`,
        ...written.map((p) => `  ${p}`),
        merged
          ? `local.db: ${merged.inbox} inbox message${merged.inbox === 1 ? '' : 's'} and ${merged.verified_peers} verified peer${merged.verified_peers === 1 ? '' : 's'} added or updated (${merged.grants} grants, ${merged.presence} presence)`
          : 'this backup carries no local records (an older backup, or its home had no local.db): verified peers and the inbox start empty',
        'next: claudemesh identity show · claudemesh whoami',
      ].join('\n'),
    );
  }

  @Option({ flags: '--force', description: 'replace an account, mesh or config file here that differs from the backup' })
  parseForce(): boolean {
    return true;
  }
}
