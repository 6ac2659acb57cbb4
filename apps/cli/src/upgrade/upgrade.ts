import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { cliPackageRoot, isSingleBinary } from '../claude/cli-location.js';
import { findOnPath } from '../url-scheme/register.js';

/** How the running CLI was installed, found from where its package folder is. */
export type Install =
  | { kind: 'global'; root: string; prefix: string; npm: string }
  | { kind: 'dependency'; root: string; project: string }
  | { kind: 'checkout'; root: string; repo: string | null }
  /** The single binary (apps/cli/build-sea.mjs): `path` is the binary; updated by the install script. */
  | { kind: 'binary'; root: string; path: string };

/** Where release binaries (and install.sh) are downloaded from; scripts/install.sh uses the same default. */
export const DOWNLOAD_BASE = process.env['CLAUDEMESH_DOWNLOAD_BASE'] ?? 'https://github.com/claudemesh/claudemesh/releases/latest/download';

interface Manifest {
  name: string;
  version: string;
}

export function manifest(root: string): Manifest {
  const m = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Partial<Manifest>;
  return { name: m.name ?? '@claudemesh/cli', version: m.version ?? '0.0.0' };
}

/**
 * `npm i -g` puts a package in `<prefix>/lib/node_modules/<name>` (POSIX) or
 * `<prefix>\node_modules\<name>` (Windows, next to the `.cmd` shims). Anything else under a
 * node_modules is a project's dependency; outside one, a source checkout.
 */
export function locateInstall(root: string = cliPackageRoot()): Install {
  if (isSingleBinary()) return { kind: 'binary', root, path: process.execPath };
  const real = realpathSync(root);
  const name = manifest(real).name;
  const depth = name.split('/').length;
  let modules = real;
  for (let i = 0; i < depth; i++) modules = dirname(modules);
  if (basename(modules) !== 'node_modules') return { kind: 'checkout', root: real, repo: gitRoot(real) };
  const above = dirname(modules);
  if (process.platform === 'win32') {
    if (existsSync(join(above, 'claudemesh.cmd')) || existsSync(join(above, 'npm.cmd'))) return { kind: 'global', root: real, prefix: above, npm: findNpm(above) };
    return { kind: 'dependency', root: real, project: above };
  }
  if (basename(above) === 'lib') {
    const prefix = dirname(above);
    return { kind: 'global', root: real, prefix, npm: findNpm(prefix) };
  }
  return { kind: 'dependency', root: real, project: above };
}

/** The npm of that prefix, else the one next to this node, else the first on PATH. */
function findNpm(prefix: string): string {
  const win = process.platform === 'win32';
  const file = win ? 'npm.cmd' : 'npm';
  const candidates = [win ? join(prefix, file) : join(prefix, 'bin', file), join(dirname(process.execPath), file)];
  return candidates.find((c) => existsSync(c)) ?? findOnPath(file) ?? file;
}

function gitRoot(from: string): string | null {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.git'))) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/** The one command the upgrade runs. better-sqlite3 is allowed its install script (npm 11 asks). */
export function upgradeCommand(install: Extract<Install, { kind: 'global' }>): string[] {
  return [install.npm, 'install', '-g', `${manifest(install.root).name}@latest`, '--prefix', install.prefix, '--allow-scripts=better-sqlite3'];
}

export type RegistryAnswer = { ok: true; version: string } | { ok: false; reason: 'unreachable' | 'not-published' | 'failed'; registry: string; detail: string };

/** `npm view <name>@latest version --prefer-online`, with no retries and a deadline: is the registry there, and what is latest? */
export async function latestVersion(install: Extract<Install, { kind: 'global' }>, timeoutMs: number): Promise<RegistryAnswer> {
  const name = manifest(install.root).name;
  const args = ['view', `${name}@latest`, 'version', '--prefer-online', '--prefix', install.prefix, '--fetch-retries=0', `--fetch-timeout=${timeoutMs}`];
  const r = await exec(install.npm, args, timeoutMs + 5_000);
  const version = r.stdout.trim().split('\n').pop()?.trim() ?? '';
  if (r.code === 0 && /^\d+\.\d+\.\d+/.test(version)) return { ok: true, version };
  const registry = await registryOf(install);
  const output = `${r.stderr}\n${r.stdout}`;
  const detail =
    output
      .split('\n')
      .map((l) => l.replace(/^npm (error|ERR!)\s*/, '').trim())
      .filter((l) => l && !/^(A complete log|code |errno |syscall |network |Log files)/i.test(l))[0] ?? (r.timedOut ? `no answer within ${timeoutMs} ms` : `npm exited with ${r.code}`);
  if (/\bE404\b|404 Not Found/.test(output) || (r.code === 0 && version === '')) return { ok: false, reason: 'not-published', registry, detail };
  if (r.timedOut || /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH|FETCH_ERROR|network/i.test(output)) return { ok: false, reason: 'unreachable', registry, detail };
  return { ok: false, reason: 'failed', registry, detail };
}

async function registryOf(install: Extract<Install, { kind: 'global' }>): Promise<string> {
  const r = await exec(install.npm, ['config', 'get', 'registry', '--prefix', install.prefix], 10_000);
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : 'the npm registry';
}

/** Runs the upgrade with npm's output on our stderr (stdout stays for --json), and resolves to npm's exit code. */
export function runUpgrade(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['inherit', 2, 2], shell: process.platform === 'win32' });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function exec(file: string, args: string[], timeout: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout, encoding: 'utf8', shell: process.platform === 'win32', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const e = error as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string }) | null;
      const timedOut = Boolean(e?.killed && e.signal === 'SIGTERM');
      const code = e ? (typeof e.code === 'number' ? e.code : 1) : 0;
      resolve({ code, stdout: String(stdout ?? ''), stderr: `${String(stderr ?? '')}${e && typeof e.code === 'string' ? `\n${e.code}: ${e.message}` : ''}`, timedOut });
    });
  });
}
