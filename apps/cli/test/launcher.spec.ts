import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, cli } from './helpers/cli.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const INSTALL_SH = join(REPO, 'scripts', 'install.sh');
const exec = promisify(execFile);
/** A PATH with the system tools (sh, and node where the system keeps it) but no claudemesh. */
const SYSTEM_PATH = '/usr/bin:/bin';

async function sh(script: string, env: Record<string, string>, cwd = tmpdir()): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('sh', ['-c', script], { env, cwd });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** `claudemesh` on PATH after install: what Claude's Bash calls and every hint rely on. */
describe('the claudemesh command on PATH', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'cmh-path-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const version = JSON.parse(readFileSync(join(REPO, 'apps', 'cli', 'package.json'), 'utf8')).version as string;

  it('install writes ~/.local/bin/claudemesh, which a plain shell then runs; reinstall is a no-op; uninstall removes it', async () => {
    const home = tmp();
    const env = { HOME: home, PATH: `${home}/.local/bin:${SYSTEM_PATH}` };
    const installed = await cli(join(home, 'cm'), ['install'], env);
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`claudemesh command added: ~/.local/bin/claudemesh, a script running ${process.execPath} ${CLI} (after moving claudemesh or node, run claudemesh install again)`);
    expect(installed.stdout).not.toContain('is not on your PATH');
    const launcher = join(home, '.local', 'bin', 'claudemesh');
    expect(statSync(launcher).mode & 0o777).toBe(0o755);

    const shell = { ...env, CLAUDEMESH_HOME: join(home, 'cm') };
    expect(await sh('command -v claudemesh && claudemesh --version', shell)).toEqual({ code: 0, stdout: `${launcher}\n${version}\n`, stderr: '' });
    expect(await sh('claudemesh whoami', shell)).toMatchObject({ code: 3, stderr: expect.stringContaining('no mesh joined') });
    const doctor = await sh('claudemesh doctor', shell);
    expect(doctor.stdout).toMatch(/✓ claudemesh on PATH\s+~\/\.local\/bin\/claudemesh \(the launcher claudemesh install wrote\)/);

    expect((await cli(join(home, 'cm'), ['install'], env)).stdout).toContain('claudemesh command up to date: ~/.local/bin/claudemesh');
    const removed = await cli(join(home, 'cm'), ['uninstall'], env);
    expect(removed.stdout).toContain('claudemesh command removed: ~/.local/bin/claudemesh');
    expect(existsSync(launcher)).toBe(false);
    expect((await sh('command -v claudemesh', shell)).code).not.toBe(0);
  });

  it('says which line puts ~/.local/bin on PATH when it is not there, and doctor says the same', async () => {
    const home = tmp();
    const env = { HOME: home, PATH: SYSTEM_PATH };
    const installed = await cli(join(home, 'cm'), ['install', '--path-only'], env);
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`~/.local/bin is not on your PATH, so a new shell will not find claudemesh; add it: echo 'export PATH="$HOME/.local/bin:$PATH"' >> ~/.bashrc`);
    // --path-only touched nothing of Claude Code.
    expect(existsSync(join(home, '.claude.json'))).toBe(false);
    expect(existsSync(join(home, '.claude'))).toBe(false);
    const doctor = await cli(join(home, 'cm'), ['doctor'], env);
    expect(doctor.stdout).toMatch(/✗ claudemesh on PATH\s+~\/\.local\/bin\/claudemesh is there, but ~\/\.local\/bin is not on PATH\n\s+fix: echo 'export PATH="\$HOME\/\.local\/bin:\$PATH"' >> ~\/\.bashrc/);
    // The line it prints works.
    const line = /echo ('export PATH=[^']+') >>/.exec(installed.stdout)![1]!.slice(1, -1);
    expect(await sh(`${line}; claudemesh --version`, env)).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('writes no launcher when claudemesh on PATH already runs this CLI (npm link), and keeps a file it did not write', async () => {
    const home = tmp();
    const prefixBin = join(tmp(), 'bin');
    mkdirSync(prefixBin);
    symlinkSync(CLI, join(prefixBin, 'claudemesh'));
    const linked = await cli(join(home, 'cm'), ['install', '--path-only', '--json'], { HOME: home, PATH: `${prefixBin}:${SYSTEM_PATH}` });
    expect(JSON.parse(linked.stdout)).toMatchObject({ launcher: { action: 'not-needed', on_path: join(prefixBin, 'claudemesh') } });
    expect(existsSync(join(home, '.local', 'bin', 'claudemesh'))).toBe(false);
    expect((await cli(join(home, 'cm'), ['doctor'], { HOME: home, PATH: `${prefixBin}:${SYSTEM_PATH}` })).stdout).toMatch(/✓ claudemesh on PATH\s+\S+\/bin\/claudemesh\n/);

    // Someone else's claudemesh in ~/.local/bin (an older install, a wrapper): left alone both ways.
    const other = join(home, '.local', 'bin', 'claudemesh');
    mkdirSync(dirname(other), { recursive: true });
    writeFileSync(other, '#!/bin/sh\necho mine\n', { mode: 0o755 });
    const env = { HOME: home, PATH: `${home}/.local/bin:${SYSTEM_PATH}` };
    expect((await cli(join(home, 'cm'), ['install', '--path-only'], env)).stdout).toContain('left alone: ~/.local/bin/claudemesh exists and was not written by claudemesh install; claudemesh on PATH is ~/.local/bin/claudemesh');
    expect((await cli(join(home, 'cm'), ['uninstall'], env)).stdout).toContain('~/.local/bin/claudemesh was not written by claudemesh install; left alone');
    expect(readFileSync(other, 'utf8')).toBe('#!/bin/sh\necho mine\n');
    expect((await cli(join(home, 'cm'), ['doctor'], env)).stdout).toMatch(/✗ claudemesh on PATH\s+~\/\.local\/bin\/claudemesh is another claudemesh, not this one/);
  });

  it("says what to do when the CLI it runs has moved", async () => {
    const home = tmp();
    const launcher = join(home, '.local', 'bin', 'claudemesh');
    expect((await cli(join(home, 'cm'), ['install', '--path-only'], { HOME: home, PATH: SYSTEM_PATH })).code).toBe(0);
    writeFileSync(launcher, readFileSync(launcher, 'utf8').replace(/^cli=.*$/m, `cli=${join(home, 'gone', 'claudemesh.js')}`));
    const run = await sh('claudemesh --version', { HOME: home, PATH: `${home}/.local/bin:${SYSTEM_PATH}` });
    expect(run.code).toBe(127);
    expect(run.stderr).toMatch(/which is gone \(moved or removed\); run claudemesh install again from where claudemesh is now/);
  });

  it('the README’s one command, npx claudemesh install in the checkout, puts claudemesh on PATH for a fresh HOME', { timeout: 120_000 }, async () => {
    const home = tmp();
    const nodeDir = dirname(process.execPath);
    const npx = await sh('npx claudemesh install --json', { HOME: home, PATH: `${home}/.local/bin:${nodeDir}:${SYSTEM_PATH}`, CLAUDEMESH_HOME: join(home, 'cm'), npm_config_update_notifier: 'false' }, REPO);
    expect(npx.code, npx.stderr).toBe(0);
    expect(JSON.parse(npx.stdout)).toMatchObject({ launcher: { action: 'added', file: join(home, '.local', 'bin', 'claudemesh') }, mcp_server: { action: 'added' } });
    expect(await sh('cd / && claudemesh --version', { HOME: home, PATH: `${home}/.local/bin:${SYSTEM_PATH}` })).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('scripts/install.sh installs from its checkout, and says plainly that the npm package is not published', { timeout: 120_000 }, async () => {
    const home = tmp();
    const nodeDir = dirname(process.execPath);
    const env = { HOME: home, PATH: `${nodeDir}:${SYSTEM_PATH}` };
    const installed = await sh(`sh ${INSTALL_SH}`, env);
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`installing from the checkout ${REPO.replace(/\/$/, '')}`);
    expect(installed.stdout).toContain('claudemesh command added: ~/.local/bin/claudemesh');
    expect(await sh('claudemesh --version', { HOME: home, PATH: `${home}/.local/bin:${SYSTEM_PATH}` })).toMatchObject({ code: 0, stdout: `${version}\n` });

    const npm = await sh(`sh ${INSTALL_SH} --dry-run`, { ...env, CLAUDEMESH_INSTALL_METHOD: 'npm' });
    expect(npm.code).toBe(1);
    expect(npm.stderr).toContain('the npm package @claudemesh/cli is not published yet');
    expect(npm.stderr).toContain('CLAUDEMESH_NPM_PACKAGE to a tarball made with npm pack -w apps/cli');
    const tarball = await sh(`sh ${INSTALL_SH} --dry-run`, { ...env, CLAUDEMESH_INSTALL_METHOD: 'npm', CLAUDEMESH_NPM_PACKAGE: '/tmp/claudemesh-cli-0.1.0.tgz' });
    expect(tarball.stdout).toContain('npm install -g /tmp/claudemesh-cli-0.1.0.tgz --allow-scripts=better-sqlite3');
  });
});
