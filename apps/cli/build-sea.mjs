#!/usr/bin/env node
/**
 * Builds the single binary: apps/cli/dist-sea/claudemesh-<os>-<arch>, a Node single-executable
 * application (SEA) that runs on a machine with no Node installed.
 *
 *   npm run build:sea                 (root or apps/cli) tsc -b, the ESM bundle if stale, then this
 *   node apps/cli/build-sea.mjs [--out <dir>] [--node <node binary>] [--addon <better_sqlite3.node>] [--target <os-arch>]
 *   node apps/cli/build-sea.mjs --bundle-only [--out <dir>]   only the CommonJS script (a second; the tests' check)
 *
 * A SEA runs ONE CommonJS script whose require() reaches only Node's built-in modules, so:
 * - the ESM bundle (dist-bundle/, what the npm package ships: same stubs and trims) is bundled once
 *   more, into one CommonJS file with every chunk inlined and better-sqlite3's JS included;
 * - files the CLI reads from its package folder (package.json for the version, skill/SKILL.md for
 *   `install`) and better-sqlite3's native addon travel as SEA assets. The binary writes them once
 *   into a cache dir named by their hash, which it then treats as its package folder
 *   (`import.meta.url` points into it), and hands the addon's path to better-sqlite3 (local-store.ts);
 * - `cliBinPath()` is the binary itself (src/claude/cli-location.ts sees the prelude's module URL),
 *   and the binary drops its own path when it gets it as first argument, so every `<node> <cli bin> <verb>` the CLI spawns or writes (the daemon, the systemd
 *   unit, the MCP entry, the status line, the URL handler) runs the binary.
 *
 * The blob is made by the node running this script, so --node must be the same Node version. Another
 * platform's build (docs/cli.md, "Single binary") needs that platform's node and better-sqlite3 addon
 * and, for macOS, codesign; for Windows, signtool afterwards.
 */
import { build } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const bundleEntry = join(here, 'dist-bundle', 'main.js');
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = process.argv[i + 1];
  if (!value || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}

const outdir = resolve(option('out', join(here, 'dist-sea')));
const HOST = `${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}`;
const target = option('target', HOST);
const [targetOs] = target.split('-');
if (!/^(linux|darwin|win)-(x64|arm64)$/.test(target)) throw new Error(`--target ${target}: expected linux|darwin|win-x64|arm64`);
if (target !== HOST && (!process.argv.includes('--node') || !process.argv.includes('--addon'))) {
  throw new Error(`--target ${target} (this is ${HOST}) needs --node <that platform's node ${process.version}> and --addon <better_sqlite3.node built for it>`);
}
const nodeBinary = option('node', process.execPath);
const addon = option('addon', join(dirname(require.resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node'));
const output = join(outdir, `claudemesh-${target}${targetOs === 'win' ? '.exe' : ''}`);
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));

/**
 * Runs first in the binary, with the SEA's require (built-ins only). `build` holds what the build
 * knows: the version, the assets' names and their hash.
 */
function seaPrelude(build) {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { pathToFileURL } = require('node:url');
  const sea = require('node:sea');

  // `<binary> <binary> daemon run` (the CLI spawns `<node> <cliBinPath()> …`, and both are the binary)
  const first = process.argv[2];
  const self = (p) => {
    try {
      return fs.realpathSync(p) === fs.realpathSync(process.execPath);
    } catch {
      return false;
    }
  };
  if (first !== undefined && (first === process.execPath || (path.isAbsolute(first) && self(first)))) process.argv.splice(2, 1);

  const name = `${build.version}-${build.hash}`;
  const cacheBase = () => {
    const home = os.homedir();
    if (process.env.XDG_CACHE_HOME) return process.env.XDG_CACHE_HOME;
    if (process.platform === 'darwin') return path.join(home, 'Library', 'Caches');
    if (process.platform === 'win32') return process.env.LOCALAPPDATA || path.join(home, 'AppData', 'Local');
    return path.join(home, '.cache');
  };
  // Written aside and renamed into place: a folder that exists is complete, whoever wrote it.
  const extract = (root) => {
    if (fs.existsSync(path.join(root, build.addon))) return root;
    fs.mkdirSync(path.dirname(root), { recursive: true, mode: 0o700 });
    const staging = `${root}.${process.pid}.tmp`;
    fs.rmSync(staging, { recursive: true, force: true });
    for (const asset of build.assets) {
      const file = path.join(staging, asset);
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fs.writeFileSync(file, new Uint8Array(sea.getAsset(asset)), { mode: 0o600 });
    }
    try {
      fs.renameSync(staging, root);
    } catch (error) {
      fs.rmSync(staging, { recursive: true, force: true });
      if (!fs.existsSync(path.join(root, build.addon))) throw error;
    }
    return root;
  };
  // A shared temp dir only when it is ours alone: another user could plant an addon there.
  const privateTemp = () => {
    const dir = path.join(os.tmpdir(), `claudemesh-${typeof process.getuid === 'function' ? process.getuid() : 'user'}`);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || (typeof process.getuid === 'function' && st.uid !== process.getuid()) || (process.platform !== 'win32' && (st.mode & 0o077) !== 0)) {
      throw new Error(`${dir} is not a private directory of this user`);
    }
    return dir;
  };
  let root;
  try {
    root = extract(path.join(cacheBase(), 'claudemesh', 'sea', name));
  } catch (error) {
    try {
      root = extract(path.join(privateTemp(), name));
    } catch (fallback) {
      process.stderr.write(`claudemesh: cannot unpack the binary's files (${error.message}; ${fallback.message})\nnext: set XDG_CACHE_HOME to a writable directory\n`);
      process.exit(1);
    }
  }
  globalThis.__claudemeshSeaUrl = pathToFileURL(path.join(root, 'dist-bundle', 'main.js')).href;
  globalThis.claudemeshSqliteAddon = path.join(root, build.addon);
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

async function bundle(assetBuild) {
  const main = join(outdir, 'claudemesh.cjs');
  const result = await build({
    absWorkingDir: here,
    entryPoints: [bundleEntry],
    outfile: main,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // Every chunk shares the one module URL: inside the unpacked package folder.
    define: { 'import.meta.url': 'globalThis.__claudemeshSeaUrl' },
    banner: {
      js: [
        `(${seaPrelude.toString()})(${JSON.stringify(assetBuild)});`,
        // better-sqlite3 loads its addon with require(path): give the bundle a require that reaches files.
        'var require = require("node:module").createRequire(__filename);',
      ].join('\n'),
    },
    legalComments: 'none',
    minifyWhitespace: true,
    minifySyntax: true,
    metafile: true,
    logLevel: 'warning',
  });
  // Nothing may be loaded from disk at run time but Node's own modules. (A real import() fails under
  // useCodeCache; the one left, Nest's `await import('repl')` for its REPL, never runs here.)
  const builtin = (p) => builtinModules.includes(p.replace(/^node:/, ''));
  const left = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => !builtin(i.path) || (i.kind === 'dynamic-import' && i.path !== 'repl')));
  if (left.length) throw new Error(`the SEA bundle still loads at run time: ${left.map((i) => `${i.path} (${i.kind})`).join(', ')}`);
  return main;
}

function assets() {
  if (!existsSync(addon)) throw new Error(`${addon} is missing: better-sqlite3 has no built addon (npm rebuild better-sqlite3)`);
  const files = {
    'package.json': Buffer.from(`${JSON.stringify({ name: pkg.name, version: pkg.version, description: 'unpacked by the claudemesh single binary' }, null, 2)}\n`),
    'skill/SKILL.md': readFileSync(join(here, 'skill', 'SKILL.md')),
    'better_sqlite3.node': readFileSync(addon),
  };
  const hash = createHash('sha256');
  for (const [name, data] of Object.entries(files)) hash.update(`${name}\0${data.length}\0`).update(data);
  const dir = join(outdir, 'assets');
  rmSync(dir, { recursive: true, force: true });
  const paths = {};
  for (const [name, data] of Object.entries(files)) {
    paths[name] = join(dir, name);
    mkdirSync(dirname(paths[name]), { recursive: true });
    writeFileSync(paths[name], data);
  }
  return { paths, build: { version: pkg.version, hash: hash.digest('hex').slice(0, 16), addon: 'better_sqlite3.node', assets: Object.keys(files) } };
}

function run(file, args) {
  execFileSync(file, args, { stdio: ['ignore', 'inherit', 'inherit'] });
}

function inject(blob) {
  const node = readFileSync(nodeBinary);
  if (!node.includes(FUSE)) throw new Error(`${nodeBinary} has no SEA fuse (${FUSE}): use an official Node build`);
  if (!node.includes(`node-${process.version}`)) throw new Error(`${nodeBinary} is not Node ${process.version}, the node that makes the blob: run this script with the same version`);
  rmSync(output, { force: true });
  copyFileSync(nodeBinary, output);
  chmodSync(output, 0o755);
  if (targetOs === 'darwin') run('codesign', ['--remove-signature', output]);
  // In a child process: postject prints LIEF's harmless "Can't find string offset for section name
  // '.note.100'" a dozen times, shown only when the injection fails.
  const postject = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
  const args = [postject, output, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE, ...(targetOs === 'darwin' ? ['--macho-segment-name', 'NODE_SEA'] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`postject failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  if (targetOs === 'darwin') run('codesign', ['--sign', '-', output]);
  // Windows: sign with `signtool sign /fd SHA256 <exe>` afterwards, if you have a certificate.
}

const started = Date.now();
if (!existsSync(bundleEntry)) throw new Error(`${relative(process.cwd(), bundleEntry)} is missing: run npm run build (or npm run build:sea, which builds it)`);
mkdirSync(outdir, { recursive: true });
const { paths, build: assetBuild } = assets();
const main = await bundle(assetBuild);
if (process.argv.includes('--bundle-only')) {
  process.stdout.write(`sea script: ${relative(process.cwd(), main)} (${(statSync(main).size / 1024).toFixed(0)} KB)\n`);
  process.exit(0);
}
const seaConfig = join(outdir, 'sea-config.json');
const blob = join(outdir, 'claudemesh.blob');
// The code cache is V8's compiled form of the script, made by this node (a faster start: about
// 40 ms for --version here); another platform's node could crash loading it.
const useCodeCache = target === HOST;
writeFileSync(seaConfig, `${JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache, assets: paths }, null, 2)}\n`);
const made = spawnSync(process.execPath, ['--experimental-sea-config', seaConfig], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(`node --experimental-sea-config failed (${made.status ?? made.signal}):\n${made.stdout}${made.stderr}`);
inject(blob);
const digest = sha256(readFileSync(output));
writeFileSync(`${output}.sha256`, `${digest}  ${basename(output)}\n`);

if (target === HOST) {
  const version = execFileSync(output, ['--version'], { encoding: 'utf8' }).trim();
  if (version !== pkg.version) throw new Error(`${output} --version printed ${JSON.stringify(version)}, expected ${pkg.version}`);
}
const mb = (statSync(output).size / 1024 / 1024).toFixed(1);
const js = (statSync(main).size / 1024).toFixed(0);
process.stdout.write(`single binary: ${relative(process.cwd(), output)} (${mb} MB, script ${js} KB, sha256 ${digest.slice(0, 12)}…) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
