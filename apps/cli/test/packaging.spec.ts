import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The shipped form of the CLI: the esbuild bundle (apps/cli/build-bundle.mjs, run by `npm run
 * build`) and the npm tarball made from it.
 */
const run = promisify(execFile);
const CLI_ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPO_ROOT = join(CLI_ROOT, '..', '..');
const BUNDLE = join(CLI_ROOT, 'dist-bundle');
const ENTRY = join(BUNDLE, 'main.js');
const VERSION = (JSON.parse(readFileSync(join(CLI_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Metafile {
  inputs: Record<string, { bytes: number }>;
  outputs: Record<string, { bytes: number; imports: { path: string; kind: string; external?: boolean }[]; inputs: Record<string, unknown> }>;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await run(file, args, { maxBuffer: 64 * 1024 * 1024, ...options });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw error; // spawn failure or timeout, not an exit code
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const temps: string[] = [];
const temp = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('the CLI bundle (apps/cli/dist-bundle)', () => {
  let meta: Metafile;

  beforeAll(() => {
    if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run npm run build (tsc -b, then node apps/cli/build-bundle.mjs)`);
    meta = JSON.parse(readFileSync(join(BUNDLE, 'meta.json'), 'utf8')) as Metafile;
  });

  const bundle = (home: string, args: string[]) => exec(process.execPath, [ENTRY, ...args], { env: { ...process.env, CLAUDEMESH_HOME: home } });

  it('answers --version, --help and peers (exit 3, no mesh joined, with an empty home)', async () => {
    const home = temp('cmh-bundle-');
    const version = await bundle(home, ['--version']);
    expect(version).toMatchObject({ code: 0, stdout: `${VERSION}\n` });

    const help = await bundle(home, ['--help']);
    expect(help.code).toBe(0);
    for (const verb of ['join', 'peers', 'send', 'inbox', 'mcp', 'install']) expect(help.stdout).toMatch(new RegExp(`^  ${verb}\\b`, 'm'));

    const peers = await bundle(home, ['peers']);
    expect(peers.code).toBe(3);
    expect(peers.stderr).toMatch(/no mesh joined/);
    expect(readdirSync(home).filter((f) => f.endsWith('.json'))).toEqual([]);
  });

  it('keeps Nest out of the --version path: the entry chunk imports nothing statically but node builtins', () => {
    const entry = meta.outputs['dist-bundle/main.js'];
    expect(entry, 'dist-bundle/main.js in meta.json').toBeDefined();
    expect(entry!.bytes).toBeLessThan(8 * 1024);
    const staticImports = entry!.imports.filter((i) => i.kind === 'import-statement' || i.kind === 'require-call');
    expect(staticImports.every((i) => i.external && i.path.startsWith('node:')), JSON.stringify(staticImports)).toBe(true);
    // Only main.ts itself went into the entry chunk; everything else waits behind import().
    expect(Object.keys(entry!.inputs)).toEqual(['dist/main.js']);
    const dynamic = entry!.imports.filter((i) => i.kind === 'dynamic-import').map((i) => i.path);
    // The command tree (Nest, commander) is reached only through the loader, behind import().
    expect(dynamic.some((p) => /tree-loader/.test(p)), JSON.stringify(dynamic)).toBe(true);
  });

  it('bundles only what the CLI runs, and stays small', () => {
    const inputs = Object.keys(meta.inputs);
    const forbidden = /node_modules\/(typescript|prettier|@swc|inquirer|cosmiconfig|@nestjs\/(platform-|websockets|microservices)|pg|@electric-sql|typeorm|fastify)\//;
    expect(inputs.filter((f) => forbidden.test(f))).toEqual([]);
    expect(inputs.filter((f) => /apps\/broker\//.test(f))).toEqual([]);
    // better-sqlite3 is a native addon: an external dependency of the package, never bundled.
    expect(inputs.filter((f) => /better-sqlite3/.test(f))).toEqual([]);
    const total = Object.entries(meta.outputs)
      .filter(([file]) => file.endsWith('.js'))
      .reduce((n, [, o]) => n + o.bytes, 0);
    expect(total).toBeLessThan(4 * 1024 * 1024); // 2.3 MB when written; a naive bundle was 21 MB
  });

  it('keeps every path the code resolves from its own file (new URL(…, import.meta.url)) pointing into the package', () => {
    const files = [ENTRY, ...readdirSync(join(BUNDLE, 'chunks')).map((f) => join(BUNDLE, 'chunks', f))];
    const found: string[] = [];
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/new URL\((["'`])([^"'`]+)\1,\s*import\.meta\.url\)/g)) {
        const target = fileURLToPath(new URL(m[2]!, pathToFileURL(file)));
        found.push(m[2]!);
        expect(existsSync(target), `${m[2]} from ${file}`).toBe(true);
        expect(target.startsWith(CLI_ROOT), `${target} is inside ${CLI_ROOT}`).toBe(true);
      }
    }
    // main.ts reads ../package.json (the daemon's spawn path comes from cliBinPath(), which walks up).
    expect(found).toEqual(expect.arrayContaining(['../package.json']));
  });
});

describe('the command tree from the CommonJS copy with V8 code cache (src/tree-loader.ts)', () => {
  const TREE = join(BUNDLE, 'chunks', 'tree.cjs');
  const home = temp('cmh-cc-home-');
  const run = (xdg: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
    exec(process.execPath, [ENTRY, ...args], { env: { ...process.env, CLAUDEMESH_HOME: home, XDG_CACHE_HOME: xdg, ...extra } });
  const caches = (xdg: string): string[] => {
    const dir = join(xdg, 'claudemesh', 'code-cache');
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bin')) : [];
  };

  it('writes a private cache on the first run, reuses it unchanged, and answers exactly like the module path', async () => {
    expect(existsSync(TREE), `${TREE} (npm run build)`).toBe(true);
    const xdg = temp('cmh-cc-');
    const first = await run(xdg, ['--help']);
    expect(first.code).toBe(0);
    const [cache] = caches(xdg);
    expect(cache).toMatch(/^tree-[0-9a-f]+\.bin$/);
    const file = join(xdg, 'claudemesh', 'code-cache', cache!);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(xdg, 'claudemesh', 'code-cache')).mode & 0o777).toBe(0o700);
    const written = statSync(file).mtimeMs;
    const again = await run(xdg, ['--help']);
    expect(again).toEqual(first);
    expect(statSync(file).mtimeMs, 'an accepted cache is not written again').toBe(written);
    expect(await run(xdg, ['--help'], { CLAUDEMESH_CODE_CACHE: 'off' })).toEqual(first);
    const peers = await run(xdg, ['peers']);
    expect(peers.code).toBe(3);
    expect(peers).toEqual(await run(xdg, ['peers'], { CLAUDEMESH_CODE_CACHE: 'off' }));
  });

  it('recompiles over a cache V8 rejects and replaces it', async () => {
    const xdg = temp('cmh-cc-');
    await run(xdg, ['--help']);
    const file = join(xdg, 'claudemesh', 'code-cache', caches(xdg)[0]!);
    writeFileSync(file, Buffer.alloc(4096, 7));
    const after = await run(xdg, ['--help']);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/^Usage: /);
    expect(readFileSync(file).equals(Buffer.alloc(4096, 7)), 'the rejected cache was replaced').toBe(false);
  });

  it('uses no cache directory that others could write to', async () => {
    const xdg = temp('cmh-cc-');
    const dir = join(xdg, 'claudemesh', 'code-cache');
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    const r = await run(xdg, ['--help']);
    expect(r.code).toBe(0);
    expect(caches(xdg)).toEqual([]);
  });
});

const PACK = process.env.CLAUDEMESH_TEST_PACK === '1';
const WHY = 'builds better-sqlite3 from source, ~60 s; run with CLAUDEMESH_TEST_PACK=1';

describe('the npm package (npm pack -w apps/cli)', () => {
  it.skipIf(!PACK)(
    PACK ? 'packs, installs into an empty prefix with npm i -g --prefix, and runs from there' : `packs and installs with npm i -g (skipped: ${WHY})`,
    async () => {
      // Nothing from the npm run that may have started vitest (npm_config_prefix and the like).
      const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_(config_(local_|global_)?prefix|package_|lifecycle_)/i.test(k)));
      env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;

      const packDir = temp('cmh-pack-');
      const packed = await exec('npm', ['pack', '-w', 'apps/cli', '--pack-destination', packDir, '--silent'], { cwd: REPO_ROOT, env, timeout: 120_000 });
      expect(packed.code, packed.stderr).toBe(0);
      const tarballs = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
      expect(tarballs).toEqual([`claudemesh-cli-${VERSION}.tgz`]);
      const tarball = join(packDir, tarballs[0]!);

      const listing = await exec('tar', ['-tzf', tarball]);
      const files = listing.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
      expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'bin/claudemesh.js', 'dist-bundle/main.js', 'skill/SKILL.md']));
      expect(files.filter((f) => !/^(package\.json|README\.md|bin\/claudemesh\.js|skill\/SKILL\.md|dist-bundle\/(main|chunks\/[\w.-]+)\.js|dist-bundle\/chunks\/tree\.cjs)$/.test(f))).toEqual([]);
      expect(files.some((f) => /^(src|test|dist)\//.test(f) || f.endsWith('.map') || f.endsWith('.ts'))).toBe(false);
      const manifest = JSON.parse((await exec('tar', ['-xzOf', tarball, 'package/package.json'])).stdout) as { dependencies?: Record<string, string> };
      expect(Object.keys(manifest.dependencies ?? {})).toEqual(['better-sqlite3']);
      expect(manifest.dependencies!['better-sqlite3']).toMatch(/^\^12\./);

      const prefix = temp('cmh-prefix-');
      const installed = await exec('npm', ['i', '-g', tarball, '--prefix', prefix, '--allow-scripts=better-sqlite3', '--prefer-offline', '--no-audit', '--no-fund'], { env, timeout: 300_000 });
      expect(installed.code, installed.stderr).toBe(0);

      const bin = join(prefix, 'bin', 'claudemesh');
      const pkgDir = join(prefix, 'lib', 'node_modules', '@claudemesh', 'cli');
      expect(statSync(bin).mode & 0o111).not.toBe(0);
      expect(existsSync(join(pkgDir, 'dist')), 'no tsc output in the package: bin/ runs the bundle').toBe(false);
      const home = temp('cmh-home-');
      const userHome = temp('cmh-user-');
      const cli = (args: string[]) => exec(bin, args, { env: { ...env, HOME: userHome, CLAUDEMESH_HOME: home }, cwd: userHome });

      expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
      const help = await cli(['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^Usage: claudemesh /);
      const peers = await cli(['peers']);
      expect(peers.code).toBe(3);
      expect(peers.stderr).toMatch(/no mesh joined/);

      // The native addon was built (or fetched) for this Node.
      const sqlite = await exec(process.execPath, ['-e', `const D = require(${JSON.stringify(join(pkgDir, 'node_modules', 'better-sqlite3'))}); new D(':memory:').close();`]);
      expect(sqlite.code, sqlite.stderr).toBe(0);

      // `install` finds the bin and the skill by walking up from the bundle to the package folder.
      const registered = await cli(['install', '--json']);
      expect(registered.code, registered.stderr).toBe(0);
      const claudeJson = JSON.parse(readFileSync(join(userHome, '.claude.json'), 'utf8')) as { mcpServers: Record<string, { args: string[] }> };
      expect(claudeJson.mcpServers.claudemesh?.args).toEqual([join(pkgDir, 'bin', 'claudemesh.js'), 'mcp']);
      expect(readFileSync(join(userHome, '.claude', 'skills', 'claudemesh', 'SKILL.md'), 'utf8')).toBe(readFileSync(join(CLI_ROOT, 'skill', 'SKILL.md'), 'utf8'));
    },
    420_000,
  );
});
