import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';

/**
 * A lock file taken with O_CREAT|O_EXCL: one holder at a time among every process of this user
 * (Node has no flock). Held for the few milliseconds of an append. A lock left by a crashed process
 * is taken over when its pid is gone or it is older than `staleMs`.
 */
export interface LockOptions {
  /** Give up after this long. */
  timeoutMs?: number;
  staleMs?: number;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleepSync = (ms: number): void => void Atomics.wait(sleeper, 0, 0, ms);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the lock at `path` was left behind by a process that no longer holds it. */
function isStale(path: string, staleMs: number): boolean {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) return true;
    return Date.now() - statSync(path).mtimeMs > staleMs;
  } catch {
    // gone meanwhile, or still being written: retry
    return false;
  }
}

export function withFileLock<T>(path: string, work: () => T, options: LockOptions = {}): T {
  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  const staleMs = options.staleMs ?? 10_000;
  let fd: number | null = null;
  for (let wait = 1; fd === null; wait = Math.min(wait * 2, 25)) {
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (isStale(path, staleMs)) {
        try {
          unlinkSync(path);
        } catch {
          // another process took it over first
        }
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${path} is held by another claudemesh process (remove it if none runs)`);
      sleepSync(wait + Math.random() * wait);
    }
  }
  try {
    writeSync(fd, `${process.pid}\n`);
    return work();
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
}
