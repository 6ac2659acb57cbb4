import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

type CommandTreeModule = typeof import('./command-tree.js');

/**
 * The command tree, loaded the fastest way this install allows.
 *
 * The npm bundle ships it twice: as ES module chunks, and as one CommonJS file
 * (`dist-bundle/chunks/tree.cjs`, build-bundle.mjs). Node 20 keeps no compiled code between runs
 * for either, but a CommonJS script can be compiled through `vm.Script` with V8's code cache: the
 * first run writes the cache (after the verb ran, so it holds every function the verb compiled)
 * under `$XDG_CACHE_HOME/claudemesh/code-cache`, later runs skip parsing and compiling Nest,
 * commander, zod and our commands. V8 checks the cache against the source and its own version and
 * flags, and rejects one that does not match; we then compile as usual and write a fresh one.
 *
 * Falls back to the module (tsc's dist, tests, the single binary with its own code cache) when
 * there is no tree.cjs, when CLAUDEMESH_CODE_CACHE=off, or when no private cache dir can be had.
 */
export async function loadCommandTree(): Promise<CommandTreeModule> {
  // This module is itself a chunk in dist-bundle/chunks/ (a sibling, then); from tsc's dist/ the
  // path names nothing and the module is used.
  const script = new URL('../chunks/tree.cjs', import.meta.url);
  if (singleBinary() || process.env['CLAUDEMESH_CODE_CACHE'] === 'off' || !existsSync(script)) return import('./command-tree.js');
  return loadCached(fileURLToPath(script), script.href);
}

function singleBinary(): boolean {
  return typeof (globalThis as { __claudemeshSeaUrl?: unknown }).__claudemeshSeaUrl === 'string';
}

function loadCached(file: string, url: string): CommandTreeModule {
  const source = readFileSync(file, 'utf8');
  const st = statSync(file);
  const dir = cacheDir();
  // Named by what V8 will check anyway, so a rebuilt bundle or another node never even tries an old one.
  const key = createHash('sha256').update(`${process.version}\0${process.arch}\0${st.size}\0${st.mtimeMs}\0${file}`).digest('hex').slice(0, 24);
  const cacheFile = dir === null ? null : join(dir, `tree-${key}.bin`);
  let cachedData: Buffer | undefined;
  try {
    if (cacheFile !== null && existsSync(cacheFile)) cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const compiled = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (cacheFile !== null && (cachedData === undefined || compiled.cachedDataRejected === true)) {
    // After the verb ran: the cache then also holds the functions it compiled on the way.
    process.once('exit', () => writeCache(cacheFile, () => compiled.createCachedData()));
  }
  // The bundle resolves package-relative paths (package.json, skill/, bin/) from this URL.
  (globalThis as { __claudemeshTreeUrl?: string }).__claudemeshTreeUrl = url;
  const module = { exports: {} as CommandTreeModule };
  (compiled.runInThisContext() as (e: unknown, r: NodeJS.Require, m: unknown, f: string, d: string) => void)(module.exports, createRequire(file), module, file, join(file, '..'));
  return module.exports;
}

/** `<cache>/claudemesh/code-cache`, made 0700; null unless it is a directory of this user that nobody else can write. */
function cacheDir(): string | null {
  const base = process.env['XDG_CACHE_HOME'] || (process.platform === 'darwin' ? join(homedir(), 'Library', 'Caches') : join(homedir(), '.cache'));
  const dir = join(base, 'claudemesh', 'code-cache');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const mine = typeof process.getuid !== 'function' || st.uid === process.getuid();
    // A cache is compiled code: one that someone else could write would run as us.
    return st.isDirectory() && mine && (process.platform === 'win32' || (st.mode & 0o022) === 0) ? dir : null;
  } catch {
    return null;
  }
}

/** Caches kept: one per bundle build and node version, the most recently written first. */
const KEEP_CACHES = 4;

/** Written aside and renamed into place, so a concurrent run never reads half a cache. Best effort. */
function writeCache(file: string, data: () => Buffer): void {
  const staging = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(staging, data(), { mode: 0o600 });
    renameSync(staging, file);
    // Every rebuild names a new cache: keep the newest few, so the directory does not grow.
    const dir = join(file, '..');
    const caches = readdirSync(dir)
      .filter((f) => /^tree-[0-9a-f]+\.bin$/.test(f))
      .map((f) => ({ f, at: statSync(join(dir, f)).mtimeMs }))
      .sort((a, b) => b.at - a.at);
    for (const { f } of caches.slice(KEEP_CACHES)) rmSync(join(dir, f), { force: true });
  } catch {
    // No cache this time: the next run compiles as usual.
    rmSync(staging, { force: true });
  }
}
