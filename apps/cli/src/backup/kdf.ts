import { backupKdfParams, CryptoError, type BackupKdfParams } from '@claudemesh/crypto';
import { CliError, EXIT } from '../context.js';

/**
 * TEST-ONLY override of the backup KDF cost: CLAUDEMESH_BACKUP_KDF=min|interactive|moderate. The
 * default (unset) is moderate. `min` makes a backup that a GPU can brute-force quickly: it exists so
 * the CLI tests run fast, never use it for a real backup. Restore always reads the cost from the file.
 */
export const KDF_ENV = 'CLAUDEMESH_BACKUP_KDF';
const LEVELS = ['min', 'interactive', 'moderate'] as const;

export function kdfFromEnv(): BackupKdfParams {
  const level = process.env[KDF_ENV];
  if (level === undefined || level === '') return backupKdfParams('moderate');
  if (!(LEVELS as readonly string[]).includes(level)) throw new CliError(`${KDF_ENV}=${level} is not one of ${LEVELS.join(', ')} (it is meant for tests; unset it)`, EXIT.usage);
  return backupKdfParams(level as (typeof LEVELS)[number]);
}

const size = (bytes: number): string => (bytes >= 1024 * 1024 ? `${Math.round(bytes / (1024 * 1024))} MiB` : `${Math.round(bytes / 1024)} KiB`);

/** Runs the (synchronous, CPU-bound) key derivation with a progress line on stderr. */
export function withKdfProgress<T>(params: BackupKdfParams, work: () => T): { result: T; ms: number } {
  process.stderr.write(`claudemesh: deriving key (Argon2id, ${size(params.memlimit)}, ${params.opslimit} pass${params.opslimit === 1 ? '' : 'es'})… `);
  const started = performance.now();
  try {
    const result = work();
    const ms = Math.round(performance.now() - started);
    process.stderr.write(`done in ${(ms / 1000).toFixed(1)} s\n`);
    return { result, ms };
  } catch (error) {
    process.stderr.write('failed\n');
    throw error;
  }
}

/** A CryptoError from the backup functions as a CLI error: one line, the code, "nothing was written". */
export function backupFailure(error: unknown, file: string, verb: 'back up to' | 'restore'): unknown {
  if (!(error instanceof CryptoError)) return error;
  const message = error.message.replace(/^E_[A-Z_]+: /, '');
  const exit = error.code === 'E_PASSPHRASE_WEAK' || error.code === 'E_ENCODING' ? EXIT.usage : EXIT.failure;
  return new CliError(`cannot ${verb} ${file}: ${message}; nothing was written [${error.code}]`, exit);
}
