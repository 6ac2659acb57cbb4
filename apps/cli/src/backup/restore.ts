import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CliError, EXIT } from '../context.js';
import { ACCOUNT_FILE, loadAccount } from '../identity/account.js';
import type { Archive } from './archive.js';

export interface RestorePlan {
  /** Files to write: absent here, or different and --force was given. */
  write: string[];
  /** Files already here with exactly the backed-up bytes. */
  unchanged: string[];
  /** Files here that differ from the backup (written only with --force). */
  differing: string[];
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

/** Compares the archive with the home; nothing is written. */
export function planRestore(home: string, archive: Archive): RestorePlan {
  const plan: RestorePlan = { write: [], unchanged: [], differing: [] };
  for (const [path, bytes] of archive.files) {
    const target = join(home, path);
    let stat;
    try {
      stat = lstatSync(target);
    } catch {
      plan.write.push(path);
      continue;
    }
    if (!stat.isFile()) throw new CliError(`${target} exists and is not a regular file; move it aside, then restore again (nothing was written)`, EXIT.usage);
    if (sameBytes(new Uint8Array(readFileSync(target)), bytes)) plan.unchanged.push(path);
    else plan.differing.push(path);
  }
  return plan;
}

/** Refuses to replace an existing identity or config file unless --force; lists what differs. */
export function checkClobber(home: string, plan: RestorePlan, force: boolean): void {
  if (force || plan.differing.length === 0) return;
  const identity = plan.differing.includes(ACCOUNT_FILE) ? 'a different account seed' : plan.differing.some((p) => p.startsWith('meshes/')) ? 'different mesh identities' : 'different files';
  throw new CliError(
    `${home} already holds ${identity} (${plan.differing.join(', ')}); nothing was written — restore into an empty CLAUDEMESH_HOME, or replace them with --force (back this home up first: claudemesh backup)`,
    EXIT.usage,
  );
}

/**
 * Writes the planned files: first all into a 0700 staging directory inside the home (0600 each),
 * where the account seed is checked, then each moved into place by rename. Directories end 0700.
 */
export function applyRestore(home: string, archive: Archive, paths: string[]): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  chmodSync(home, 0o700);
  if (paths.length === 0) return;
  const staging = join(home, `.restore-${process.pid}-${Date.now()}`);
  mkdirSync(staging, { mode: 0o700 });
  try {
    for (const path of paths) {
      const file = join(staging, path);
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, archive.files.get(path)!, { mode: 0o600 });
      chmodSync(file, 0o600);
    }
    if (paths.includes(ACCOUNT_FILE)) {
      try {
        loadAccount(staging);
      } catch {
        throw new CliError("the backup's account.json is damaged (its seed does not match its fingerprint, or it is not an account file); nothing was written", EXIT.failure);
      }
    }
    if (paths.some((p) => p.startsWith('meshes/'))) {
      mkdirSync(join(home, 'meshes'), { recursive: true, mode: 0o700 });
      chmodSync(join(home, 'meshes'), 0o700);
    }
    for (const path of paths) renameSync(join(staging, path), join(home, path));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
