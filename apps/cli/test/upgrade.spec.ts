import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI_ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPO_ROOT = join(CLI_ROOT, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(CLI_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const temps: string[] = [];
const temp = (prefix: string): string => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** Nothing from the npm run that may have started vitest (npm_config_prefix and the like), and a home of its own. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  const home = temp('cmh-up-home-');
  return { ...env, HOME: home, CLAUDEMESH_HOME: join(home, '.claudemesh'), CLAUDEMESH_DAEMON: 'off', npm_config_cache: join(home, 'npm-cache'), npm_config_update_notifier: 'false', ...extra };
}

async function node(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * A global install as `npm i -g --prefix <prefix>` lays it out: the shipped files (bin/,
 * dist-bundle/, skill/, package.json) under <prefix>/lib/node_modules/@claudemesh/cli, with the
 * native dependency in its node_modules (linked from the checkout: building it takes a minute).
 */
function globalInstall(): { prefix: string; pkg: string; bin: string } {
  const prefix = temp('cmh-up-prefix-');
  const pkg = join(prefix, 'lib', 'node_modules', '@claudemesh', 'cli');
  mkdirSync(pkg, { recursive: true });
  for (const entry of ['bin', 'dist-bundle', 'skill', 'package.json']) cpSync(join(CLI_ROOT, entry), join(pkg, entry), { recursive: true, filter: (src) => !src.endsWith('meta.json') });
  mkdirSync(join(pkg, 'node_modules'));
  symlinkSync(realpathSync(join(REPO_ROOT, 'node_modules', 'better-sqlite3')), join(pkg, 'node_modules', 'better-sqlite3'), 'dir');
  mkdirSync(join(prefix, 'bin'));
  symlinkSync('../lib/node_modules/@claudemesh/cli/bin/claudemesh.js', join(prefix, 'bin', 'claudemesh'));
  return { prefix, pkg, bin: join(pkg, 'bin', 'claudemesh.js') };
}

/** Every file under a folder with a hash of its content (links not followed). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const file = join(d.parentPath, d.name);
    if (d.isFile()) out[file] = createHash('sha256').update(readFileSync(file)).digest('hex');
    else if (d.isSymbolicLink()) out[file] = 'link';
  }
  return out;
}

describe('claudemesh upgrade', () => {
  beforeAll(() => {
    if (!existsSync(join(CLI_ROOT, 'dist-bundle', 'main.js'))) throw new Error('apps/cli/dist-bundle is missing: run npm run build');
  });

  it('from the checkout says so, prints how to update, and runs nothing (with and without --dry-run)', async () => {
    const bin = join(CLI_ROOT, 'bin', 'claudemesh.js');
    const env = cleanEnv();
    for (const args of [['upgrade', '--dry-run'], ['upgrade']]) {
      const r = await node(bin, args, env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`runs from a checkout at ${realpathSync(CLI_ROOT).replace(/\/$/, '')}, not an npm install; nothing was run`);
      expect(r.stdout).toContain(`cd ${realpathSync(REPO_ROOT)} && git pull && npm install && npm run build`);
    }
    const json = JSON.parse((await node(bin, ['upgrade', '--dry-run', '--json'], env)).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ install: 'checkout', upgraded: false, version: VERSION });
  });

  it('from a global install prints the npm install -g command for its own prefix (--dry-run)', async () => {
    const { prefix, bin } = globalInstall();
    const env = cleanEnv();
    const before = snapshot(prefix);
    const r = await node(bin, ['upgrade', '--dry-run'], env);
    expect(r.code, r.stderr).toBe(0);
    // No npm in the prefix: the one next to this node.
    const npm = join(join(process.execPath, '..'), 'npm');
    expect(r.stdout).toBe(`would run: ${npm} install -g @claudemesh/cli@latest --prefix ${prefix} --allow-scripts=better-sqlite3\n`);

    // An npm in the prefix is the one that installed it.
    writeFileSync(join(prefix, 'bin', 'npm'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    const own = JSON.parse((await node(bin, ['upgrade', '--dry-run', '--json'], env)).stdout) as { install: string; prefix: string; command: string[]; dry_run: boolean };
    expect(own).toMatchObject({ install: 'global', prefix, dry_run: true });
    expect(own.command).toEqual([join(prefix, 'bin', 'npm'), 'install', '-g', '@claudemesh/cli@latest', '--prefix', prefix, '--allow-scripts=better-sqlite3']);
    rmSync(join(prefix, 'bin', 'npm'));
    expect(snapshot(prefix)).toEqual(before);
  });

  it('offline (unreachable registry) fails with a clear message and leaves the install as it was', async () => {
    const { prefix, bin } = globalInstall();
    const before = snapshot(prefix);
    const r = await node(bin, ['upgrade'], cleanEnv({ npm_config_registry: 'http://127.0.0.1:9/' }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`cannot reach the npm registry http://127\\.0\\.0\\.1:9/ \\(.*\\); claudemesh ${VERSION.replace(/\./g, '\\.')} is left as it is`));
    expect(r.stdout).toBe('');
    expect(snapshot(prefix)).toEqual(before);
  }, 60_000);

  it('runs exactly that command through the prefix npm once the registry answers, and reports the new version', async () => {
    const { prefix, pkg, bin } = globalInstall();
    const log = join(prefix, 'npm.log');
    // A stand-in npm: `view` answers a newer version, `install` records its argv and bumps package.json as npm would.
    writeFileSync(
      join(prefix, 'bin', 'npm'),
      [
        '#!/bin/sh',
        `echo "$*" >> ${log}`,
        'case "$1" in',
        '  view) echo 9.9.9 ;;',
        `  install) sed -i 's/"version": "[^"]*"/"version": "9.9.9"/' ${join(pkg, 'package.json')}; echo "added 1 package" ;;`,
        '  *) exit 1 ;;',
        'esac',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const r = await node(bin, ['upgrade', '--json'], cleanEnv());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ upgraded: true, from: VERSION, to: '9.9.9', latest: '9.9.9' });
    expect(r.stderr).toContain('added 1 package'); // npm's output goes to stderr under --json
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    expect(calls[0]).toMatch(/^view @claudemesh\/cli@latest version --prefer-online /);
    expect(calls[1]).toBe(`install -g @claudemesh/cli@latest --prefix ${prefix} --allow-scripts=better-sqlite3`);

    // Now at the latest: nothing to do, npm install not run again.
    writeFileSync(log, '');
    const again = await node(bin, ['upgrade'], cleanEnv());
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('claudemesh 9.9.9 is the latest version; nothing to do\n');
    expect(readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')[0])).toEqual(['view']);
  });
});
