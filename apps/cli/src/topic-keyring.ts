import { EpochKeyring, keyringAuthorities, type KeyringSnapshot, type MeshClient, type StoredMesh } from '@claudemesh/core';
import { parseIdentity } from '@claudemesh/crypto';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './claude/atomic-file.js';
import { CliError, EXIT } from './context.js';

/**
 * The member's key epochs of one mesh on disk (docs/cli.md "End-to-end encrypted topics"):
 * `$CLAUDEMESH_HOME/keyrings/<mesh_id>.json`, 0600 in a 0700 directory, replaced in one rename.
 * It holds epoch keys, so it is as private as the identity. Loading verifies it again as if the
 * broker had sent it (EpochKeyring.restore), so an edited file cannot slip a key past the chain.
 *
 * Several processes write it (CLI runs, the daemon, the MCP push-pipe): a save takes the file's
 * lock (`<mesh_id>.json.lock`, created exclusively, holding the writer's pid), reads the file
 * again, merges what it holds into the ring (epochs are append-only: a scope's chain and its keys
 * only grow) and writes the union, so no run drops a key another one saved meanwhile.
 */

export function keyringPath(home: string, meshId: string): string {
  return join(home, 'keyrings', `${meshId}.json`);
}

export function keyringLockPath(home: string, meshId: string): string {
  return `${keyringPath(home, meshId)}.lock`;
}

export { keyringAuthorities };

export interface StoredKeyring {
  ring: EpochKeyring;
  /**
   * Writes what the ring holds now (after a sync or a rotation), merged under the file's lock with
   * what other processes saved since it was loaded (their epochs and keys also enter the ring).
   */
  save(): void;
}

/** How long a save waits for another process's lock before giving up (CLAUDEMESH_KEYRING_LOCK_WAIT_MS). */
function lockWaitMs(): number {
  return Number(process.env['CLAUDEMESH_KEYRING_LOCK_WAIT_MS']) || 10_000;
}

/** A lock older than this whose holder cannot be read (an empty or torn lock file) counts as stale. */
const UNREADABLE_LOCK_STALE_MS = 5_000;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function alive(pid: number): boolean {
  if (pid === process.pid) return false; // this process takes the lock only inside one synchronous call
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `work` holding the keyring's lock: a lock file created with O_EXCL holding this pid. A lock
 * whose pid is dead (a run killed mid-save) is stale and taken over; a live holder is waited for,
 * up to CLAUDEMESH_KEYRING_LOCK_WAIT_MS (10 s), then the run fails naming the lock and its holder.
 * Synchronous on purpose: the lock is never held across an await, so one process never waits on itself.
 */
export function withKeyringLock<T>(home: string, meshId: string, work: () => T): T {
  const dir = join(home, 'keyrings');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const lock = keyringLockPath(home, meshId);
  const deadline = Date.now() + lockWaitMs();
  let delay = 2;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = lockHolder(lock);
      if (holder.stale) {
        takeOverStale(lock);
        continue;
      }
      if (Date.now() >= deadline) {
        throw new CliError(
          `the keyring ${keyringPath(home, meshId)} is locked by ${holder.pid ? `process ${holder.pid}` : 'another process'} for more than ${lockWaitMs() / 1000} s; ` +
            `if no claudemesh process is running, remove ${lock} and retry`,
          EXIT.failure,
        );
      }
      sleepSync(delay + Math.floor(Math.random() * delay));
      delay = Math.min(delay * 2, 50);
      continue;
    }
    try {
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return work();
    } finally {
      rmSync(lock, { force: true });
    }
  }
}

/**
 * Removes a stale lock without removing a fresh one another waiter made meanwhile: the lock is
 * first renamed aside (atomic), and put back when what was moved turns out to be held by a live
 * process after all (linked back only when no lock exists again, so nothing is overwritten).
 */
function takeOverStale(lock: string): void {
  const aside = `${lock}.${process.pid}-${randomBytes(4).toString('hex')}.stale`;
  try {
    renameSync(lock, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = lockHolder(aside);
  if (!moved.stale) {
    try {
      linkSync(aside, lock);
    } catch {
      // A third process made a lock meanwhile: two holders may overlap once, only while a stale
      // lock is being cleared (after a crash); the merge on save still keeps what both wrote
      // unless their renames interleave exactly.
    }
  }
  rmSync(aside, { force: true });
}

function lockHolder(lock: string): { pid: number | null; stale: boolean } {
  let text: string;
  try {
    text = readFileSync(lock, 'utf8');
  } catch (error) {
    // Gone meanwhile: try again at once.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { pid: null, stale: false };
    throw error;
  }
  const pid = Number(text.trim());
  if (Number.isInteger(pid) && pid > 0) return { pid, stale: !alive(pid) };
  // Created but its pid not written yet (or torn): stale only once old.
  try {
    return { pid: null, stale: Date.now() - statSync(lock).mtimeMs > UNREADABLE_LOCK_STALE_MS };
  } catch {
    return { pid: null, stale: false };
  }
}

/** The snapshot stored at `path`, null when there is none; a file that is not one is refused, never overwritten. */
function readSnapshot(path: string): KeyringSnapshot | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const snapshot = JSON.parse(text) as KeyringSnapshot;
    if (snapshot?.v !== 1 || typeof snapshot.scopes !== 'object' || snapshot.scopes === null) throw new Error('not a keyring snapshot (v 1)');
    return snapshot;
  } catch (error) {
    // Never overwritten: it may hold the only copy of a key whose seal the broker no longer has.
    throw new CliError(`cannot read the keyring ${path}: ${(error as Error).message}; move it aside and retry (keys still sealed to you are fetched again)`, EXIT.failure);
  }
}

/**
 * A keyring stored under `home`, verified with `authorities` (keyringAuthorities of the member
 * list). Restoring into a ring that already holds a scope only adds: the same manifests are
 * skipped, later ones must link to the chain, keys are checked against their manifests; a
 * different history for an epoch already verified (a fork) is not taken.
 */
export function openKeyring(home: string, mesh: Pick<StoredMesh, 'mesh_id' | 'identity'>, authorities: (scope: string, epoch: number) => readonly string[]): StoredKeyring {
  const ring = new EpochKeyring({ me: parseIdentity(mesh.identity), meshId: mesh.mesh_id, authorities });
  const path = keyringPath(home, mesh.mesh_id);
  const initial = readSnapshot(path);
  if (initial) ring.restore(initial);
  const merge = (): void => {
    const now = readSnapshot(path);
    if (now) ring.restore(now);
  };
  return {
    ring,
    save() {
      withKeyringLock(home, mesh.mesh_id, () => {
        merge();
        writeFileAtomic(path, `${JSON.stringify(ring.snapshot())}\n`, 0o600);
      });
    },
  };
}

/** The mesh's keyring, loaded and verified against the member list `client` sees (empty when none is stored). */
export async function loadKeyring(home: string, mesh: StoredMesh, client: MeshClient): Promise<StoredKeyring> {
  return openKeyring(home, mesh, keyringAuthorities(await client.listPeers()));
}
