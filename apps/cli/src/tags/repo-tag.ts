import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/**
 * `repo:<name>` derived from the workspace's git remote (docs/cli.md "Tags"): the last path
 * segment of `remote.origin.url`, without `.git`. Read from the files, not by running git: the
 * push-pipe starts with every Claude session, and a git binary may be missing or slow.
 */

/** The workspace root and its git config file, for `cwd` or a folder above it; null outside a work tree. */
export function gitConfigOf(cwd: string): { root: string; config: string } | null {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const dotGit = join(dir, '.git');
    const gitDir = gitDirAt(dotGit);
    if (gitDir) {
      // A linked worktree (and a submodule) keeps its config in the common dir, named by `commondir`.
      const common = readTrimmed(join(gitDir, 'commondir'));
      const base = common ? resolve(gitDir, common) : gitDir;
      return { root: dir, config: join(base, 'config') };
    }
    if (dirname(dir) === dir) return null;
  }
}

/** The git dir a `.git` entry stands for: itself when a folder, where its `gitdir:` line points when a file. */
function gitDirAt(dotGit: string): string | null {
  let isDir: boolean;
  try {
    isDir = statSync(dotGit).isDirectory();
  } catch {
    return null;
  }
  if (isDir) return dotGit;
  const line = readTrimmed(dotGit);
  const m = line ? /^gitdir:\s*(.+)$/.exec(line) : null;
  if (!m) return null;
  const target = m[1]!.trim();
  const dir = isAbsolute(target) ? target : resolve(dirname(dotGit), target);
  return existsSync(dir) ? dir : null;
}

function readTrimmed(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * `url` of `[remote "origin"]` in a git config text (the first one, as `git remote get-url`), or
 * null. Section names are case-insensitive, the remote's name is not; `#` and `;` start comments
 * outside quotes; the old `[remote.origin]` spelling counts too.
 */
export function originUrl(configText: string): string | null {
  let inOrigin = false;
  for (const raw of configText.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('[')) {
      const header = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]/.exec(line);
      if (!header) {
        inOrigin = false;
        continue;
      }
      const section = header[1]!.toLowerCase();
      inOrigin = header[2] !== undefined ? section === 'remote' && header[2].replace(/\\(.)/g, '$1') === 'origin' : section === 'remote.origin';
      // A key may follow the header on the same line: `[remote "origin"] url = …`.
      const rest = line.slice(header[0].length).trim();
      if (inOrigin && rest) {
        const url = keyValue(rest, 'url');
        if (url) return url;
      }
      continue;
    }
    if (!inOrigin) continue;
    const url = keyValue(line, 'url');
    if (url) return url;
  }
  return null;
}

/** The value of `key = value` on a config line (unquoted, comment dropped), or null for another key. */
function keyValue(line: string, key: string): string | null {
  const m = /^([A-Za-z][A-Za-z0-9-]*)\s*=\s*(.*)$/.exec(line);
  if (!m || m[1]!.toLowerCase() !== key) return null;
  let out = '';
  let quoted = false;
  const value = m[2]!;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      const next = value[++i]!;
      out += next === 't' ? '\t' : next === 'n' ? '\n' : next;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && (c === '#' || c === ';')) {
      break;
    } else {
      out += c;
    }
  }
  const trimmed = out.trim();
  return trimmed || null;
}

/**
 * The repository name in a remote URL, as a tag value: `git@host:org/Billing.git`,
 * `https://host/org/billing(.git)(/)`, `ssh://git@host:22/org/billing`, a local path — all give
 * `billing`. Lowercased; characters a tag value may not hold become `-`. Null when nothing is left.
 */
export function repoNameOf(url: string): string | null {
  const path = url.trim().replace(/[/\\]+$/, '').replace(/\.git$/i, '').replace(/[/\\]+$/, '');
  const last = path.split(/[/\\:]/).pop() ?? '';
  const name = last
    .toLowerCase()
    .replace(/[^a-z0-9._@+-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/[.-]+$/, '')
    .slice(0, 128)
    .replace(/[.-]+$/, '');
  return name || null;
}

/** A derived tag and where it came from (the workspace root). */
export interface DerivedTag {
  tag: string;
  from: string;
}

/** Settings that turn derivation off: CLAUDEMESH_REPO_TAG=off (also 0, false, no). */
export function repoTagDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env['CLAUDEMESH_REPO_TAG']?.trim().toLowerCase();
  return v === 'off' || v === '0' || v === 'false' || v === 'no';
}

/** `repo:<name>` for a session started in `cwd`, or null (no work tree, no origin, nothing usable in its URL). */
export function repoTagFor(cwd: string): DerivedTag | null {
  const found = gitConfigOf(cwd);
  if (!found) return null;
  const text = readTrimmed(found.config);
  const url = text ? originUrl(text) : null;
  const name = url ? repoNameOf(url) : null;
  return name ? { tag: `repo:${name}`, from: found.root } : null;
}
