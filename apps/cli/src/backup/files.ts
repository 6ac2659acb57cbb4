import { chmodSync, existsSync, linkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { CliError, EXIT } from '../context.js';

/**
 * Writes a secret file whole: into a 0600 temp file beside it, then moved into place. Without
 * `overwrite`, an existing target is never replaced — not even one created meanwhile (link fails).
 */
export function writeSecretFile(target: string, bytes: Uint8Array, overwrite: boolean): void {
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes, { mode: 0o600 });
  try {
    chmodSync(tmp, 0o600);
    if (overwrite) {
      renameSync(tmp, target);
      return;
    }
    try {
      linkSync(tmp, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new CliError(`${target} exists; pick another file name or add --force to overwrite it`, EXIT.usage);
      // A file system without hard links: fall back to a checked rename.
      if (existsSync(target)) throw new CliError(`${target} exists; pick another file name or add --force to overwrite it`, EXIT.usage);
      renameSync(tmp, target);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}
