import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, HANG_MS, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { CLI, cli, json, type CliResult } from './helpers/cli.js';

/**
 * docs/plugins.md as a new user follows it: the shell blocks marked `<!-- walkthrough: … -->` run
 * as written (the real CLI for `claudemesh`, real invite links for the placeholders), so the page
 * cannot drift from what works.
 */
const DOC = readFileSync(fileURLToPath(new URL('../../../docs/plugins.md', import.meta.url)), 'utf8');
const direct = { CLAUDEMESH_DAEMON: 'off' };

function block(name: string): string {
  const at = DOC.indexOf(`<!-- walkthrough: ${name} -->`);
  if (at < 0) throw new Error(`docs/plugins.md has no walkthrough ${name}`);
  const m = /```sh\n([\s\S]*?)```/.exec(DOC.slice(at));
  return m![1]!;
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 600)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('docs/plugins.md, followed as written', () => {
  let tb: TestBroker;
  const root = mkdtempSync(join(tmpdir(), 'cmh-walk-'));
  const home = (who: string): string => join(root, who);
  const ok = async (who: string, args: string[], env: Record<string, string> = direct): Promise<CliResult> => {
    const r = await cli(home(who), args, env);
    expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  /** Runs shell text with `claudemesh` meaning this checkout's CLI, in `cwd`, as `who`. */
  // Asynchronous: the broker runs in this process and must answer meanwhile.
  const sh = async (who: string, text: string, cwd: string, env: Record<string, string> = direct): Promise<string> => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', `claudemesh() { "${process.execPath}" "${CLI}" "$@"; }\n${text}`], {
      cwd, env: { ...process.env, CLAUDEMESH_HOME: home(who), ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    expect(status, `${who}: ${text}\n${out}\n${err}`).toBe(0);
    return out;
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    await ok('alice', ['mesh', 'create', 'alpha', '--broker', tb.url, '--name', 'alice'], { ...direct, CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    await ok('bob', ['mesh', 'create', 'beta', '--broker', tb.url, '--name', 'bob'], { ...direct, CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
  }, HANG_MS);
  afterAll(async () => {
    await cli(home('bob'), ['daemon', 'stop']);
    await tb?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('§5: bridges #general of two meshes; each side reads the other, attributed', async () => {
    const links = {
      alpha: json<{ link: string }>(await ok('alice', ['mesh', 'invite', '--json'])).link,
      beta: json<{ link: string }>(await ok('bob', ['mesh', 'invite', '--json'])).link,
    };
    const text = block('bridge')
      .replace(`'<invite link of mesh alpha>'`, `'${links.alpha}'`)
      .replace(`'<invite link of mesh beta>'`, `'${links.beta}'`);
    const lines = text.trimEnd().split('\n');
    const run = lines.at(-1)!;
    expect(run).toBe('claudemesh plugin run plugins.yaml');
    const workdir = join(root, 'operator-dir');
    mkdirSync(workdir, { recursive: true });
    // Everything before the foreground `plugin run`, as written; then the host, as its own process.
    await sh('operator', lines.slice(0, -1).join('\n'), workdir);
    const host = spawn(process.execPath, [CLI, 'plugin', 'run', 'plugins.yaml'], { cwd: workdir, env: { ...process.env, CLAUDEMESH_HOME: home('operator') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    host.stdout.on('data', (c: Buffer) => (log += c.toString()));
    host.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<void>((resolve) => host.on('exit', () => resolve()));
    try {
      await until(() => cli(home('operator'), ['plugin', 'status', '--json']), (r) => r.code === 0 && json<Array<{ state: string }>>(r)[0]?.state === 'running', `the bridge to run (${log})`);
      await ok('alice', ['topic', 'send', 'general', 'deploy at noon']);
      await until(() => ok('bob', ['topic', 'history', 'general']), (r) => /alice@alpha \(via bridge\): deploy at noon$/m.test(r.stdout), `alice in beta (${log.slice(-3000)})`);
      await ok('bob', ['topic', 'send', 'general', 'noon works']);
      await until(() => ok('alice', ['topic', 'history', 'general']), (r) => /bob@beta \(via bridge\): noon works$/m.test(r.stdout), 'bob in alpha');
    } finally {
      host.kill('SIGTERM');
      await exited;
    }
  }, HANG_MS * 3);

  it('§6: sends to tag:repo:<name> and tag?:repo:<name>', async () => {
    const link = json<{ link: string }>(await ok('bob', ['mesh', 'invite', '--json'])).link;
    await ok('carol', ['join', link, '--name', 'carol']);
    const workdir = join(root, 'tags-dir');
    mkdirSync(workdir, { recursive: true });
    for (const line of block('tags').trimEnd().split('\n')) {
      const [command, comment] = line.split(/\s+# /);
      const who = comment!.split(':')[0]!;
      const out = await sh(who, command!, workdir, who === 'bob' ? {} : direct);
      if (command!.endsWith('inbox')) {
        expect(out).toMatch(/carol: the invoice job failed at 03:00$/m);
        expect(out).toMatch(/carol: can one of you look\?$/m);
      }
    }
  }, HANG_MS * 2);
});
