import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Replaces a file's content in one rename, so a reader (Claude Code rewrites ~/.claude.json often)
 * never sees half a file. A symlinked file (dotfile managers) is written through the link, not
 * replaced by a regular file. The mode is applied to the temp file before it becomes visible.
 */
export function writeFileAtomic(path: string, text: string, mode: number): void {
  const target = resolveLink(path);
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const tmp = `${target}.claudemesh-${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, text, { mode, flag: 'wx' });
    chmodSync(tmp, mode); // the umask may have narrowed the mode given to open()
    renameSync(tmp, target);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

function resolveLink(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
