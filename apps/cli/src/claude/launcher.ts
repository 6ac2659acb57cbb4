import { accessSync, closeSync, constants, lstatSync, mkdirSync, openSync, readSync, realpathSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { cliBinPath, isSingleBinary } from './cli-location.js';
import { shellQuote } from './shell-quote.js';
import { tildify } from './paths.js';

/**
 * The `claudemesh` command on PATH that `install` writes (Claude's Bash calls and every hint say
 * plain `claudemesh`). A small sh script rather than a symlink to bin/claudemesh.js: a symlink would
 * run whatever `node` comes first on PATH (possibly one too old), the script runs the node that
 * installed it. Neither survives moving the checkout; the script then says so, and how to fix it.
 */
export const LAUNCHER_MARK = '# claudemesh launcher: written by `claudemesh install`, removed by `claudemesh uninstall`';

export type LauncherInstallAction = 'added' | 'updated' | 'unchanged' | 'not-needed' | 'kept-foreign';
export type LauncherRemoveAction = 'removed' | 'absent' | 'kept-foreign';

export interface LauncherReport {
  file: string;
  action: LauncherInstallAction;
  /** What the launcher runs: `<node> <cli bin>`. */
  runs: string;
  /** Whether the launcher's directory is on PATH. */
  dir_on_path: boolean;
  /** What `claudemesh` resolves to on PATH now (null: nothing). */
  on_path: string | null;
}

/** `CLAUDEMESH_BIN_DIR`, else ~/.local/bin (the XDG user bin many distributions put on PATH). */
export function launcherDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['CLAUDEMESH_BIN_DIR'] || join(env['HOME'] || homedir(), '.local', 'bin');
}

export const launcherPath = (env: NodeJS.ProcessEnv = process.env): string => join(launcherDir(env), 'claudemesh');

/** The node and entry point the launcher execs: this node and this CLI (the binary twice, in the single binary). */
function target(): { node: string; cli: string } {
  return { node: process.execPath, cli: isSingleBinary() ? process.execPath : cliBinPath() };
}

export function launcherScript(node: string, cli: string): string {
  return [
    '#!/bin/sh',
    LAUNCHER_MARK,
    '# It runs the claudemesh CLI below with the node that installed it. After moving either, run',
    '# `claudemesh install` again (from the new place) to rewrite it.',
    `node=${shellQuote(node)}`,
    `cli=${shellQuote(cli)}`,
    'if [ ! -e "$cli" ]; then',
    `  echo "claudemesh: this launcher ($0) runs $cli, which is gone (moved or removed); run claudemesh install again from where claudemesh is now" >&2`,
    '  exit 127',
    'fi',
    '[ -x "$node" ] || node=node',
    'exec "$node" "$cli" "$@"',
    '',
  ].join('\n');
}

/** The start of a file (a launcher is far shorter; the single binary is 100 MB and need not be read). */
function readText(file: string, max = 8192): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(max);
    const n = readSync(fd, buf, 0, max, 0);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

const realpath = (file: string): string | null => {
  try {
    return realpathSync(file);
  } catch {
    return null;
  }
};

/** Whether `file` is ours: a launcher `install` wrote (whatever it points at). */
export function isOurLauncher(file: string): boolean {
  return readText(file)?.split('\n', 3).includes(LAUNCHER_MARK) ?? false;
}

/** The CLI entry an executable named claudemesh runs: its target for our launcher, else its real path. */
export function entryOf(file: string): string | null {
  const text = isOurLauncher(file) ? readText(file) : null;
  const quoted = text ? /^cli=(.*)$/m.exec(text)?.[1] : undefined;
  if (quoted !== undefined) return realpath(unquote(quoted)) ?? unquote(quoted);
  return realpath(file);
}

const unquote = (word: string): string => (word.startsWith("'") ? word.slice(1, -1).replace(/'\\''/g, "'") : word);

/** Whether running `file` runs this very CLI (the same bin/claudemesh.js, or this single binary). */
export function runsThisCli(file: string): boolean {
  const entry = entryOf(file);
  return entry !== null && entry === realpath(target().cli);
}

/**
 * The first executable `claudemesh` on PATH, as a shell would find it. `node_modules/.bin`
 * directories are skipped: npm and npx put them on PATH only for their own child processes.
 */
export function whichClaudemesh(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir || /[\\/]node_modules[\\/]\.bin[\\/]?$/.test(dir)) continue;
    const file = join(dir, 'claudemesh');
    try {
      accessSync(file, constants.X_OK);
      if (lstatSync(file).isDirectory()) continue;
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

export function dirOnPath(dir: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const want = realpath(dir) ?? dir;
  return (env['PATH'] ?? '').split(delimiter).some((d) => d !== '' && (d === dir || realpath(d) === want));
}

/**
 * Puts `claudemesh` on PATH: writes the launcher unless `claudemesh` on PATH already runs this CLI
 * (an npm global install or link), and never over a file it did not write.
 */
export function installLauncher(env: NodeJS.ProcessEnv = process.env): LauncherReport {
  const file = launcherPath(env);
  const { node, cli } = target();
  const script = launcherScript(node, cli);
  const runs = `${node} ${cli}`;
  const report = (action: LauncherInstallAction): LauncherReport => ({ file, action, runs, dir_on_path: dirOnPath(launcherDir(env), env), on_path: whichClaudemesh(env) });
  const existing = readText(file);
  if (existing !== null || realpath(file) !== null) {
    if (isOurLauncher(file)) {
      if (existing === script) return report('unchanged');
      writeFileAtomic(file, script, 0o755);
      return report('updated');
    }
    // The single binary itself, put here by scripts/install.sh, or something else that is not ours.
    return report(runsThisCli(file) ? 'not-needed' : 'kept-foreign');
  }
  const found = whichClaudemesh(env);
  if (found && runsThisCli(found)) return report('not-needed');
  mkdirSync(launcherDir(env), { recursive: true, mode: 0o755 });
  writeFileAtomic(file, script, 0o755);
  return report('added');
}

/** Removes the launcher only when `install` wrote it. */
export function uninstallLauncher(env: NodeJS.ProcessEnv = process.env): { file: string; action: LauncherRemoveAction } {
  const file = launcherPath(env);
  if (readText(file) === null && realpath(file) === null) return { file, action: 'absent' };
  if (!isOurLauncher(file)) return { file, action: 'kept-foreign' };
  rmSync(file, { force: true });
  return { file, action: 'removed' };
}

/** The shell line that puts the launcher's directory on PATH, for a message. */
export function pathLine(dir: string, env: NodeJS.ProcessEnv = process.env): string {
  const shown = tildify(dir, env).replace(/^~/, '$HOME');
  return `echo 'export PATH="${shown}:$PATH"' >> ~/.bashrc   (zsh: ~/.zshrc; then open a new shell)`;
}
