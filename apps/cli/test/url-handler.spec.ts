import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { schemeLinkToInvite } from '../src/url-scheme/link.js';
import { darwinInstallPlan, desktopEntry, execArg, removeDefault, setDefault, windowsInstallPlan } from '../src/url-scheme/register.js';
import { cliOnTty } from './helpers/tty.js';

const CLI = fileURLToPath(new URL('../bin/claudemesh.js', import.meta.url));
const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string>): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const temps: string[] = [];
const temp = (prefix = 'cmh-url-'): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A user with their own HOME and XDG dirs; PATH holds only `bin` (empty unless a test puts tools there). */
function user(extraPath?: string): { home: string; data: string; config: string; bin: string; env: Record<string, string> } {
  const home = temp();
  const data = join(home, 'data');
  const config = join(home, 'config');
  const bin = join(home, 'bin');
  mkdirSync(bin);
  return { home, data, config, bin, env: { HOME: home, XDG_DATA_HOME: data, XDG_CONFIG_HOME: config, PATH: extraPath ? `${bin}:${extraPath}` : bin, CLAUDEMESH_HOME: join(home, '.claudemesh'), CLAUDEMESH_DAEMON: 'off' } };
}

const DESKTOP = 'claudemesh-url-handler.desktop';
const EXPECTED_ENTRY = [
  '[Desktop Entry]',
  'Type=Application',
  'Name=claudemesh',
  'Comment=Join a claudemesh mesh from a claudemesh:// link and launch Claude Code',
  `Exec=${process.execPath} ${CLI} %u`,
  'MimeType=x-scheme-handler/claudemesh;',
  'NoDisplay=true',
  'Terminal=true',
  '',
].join('\n');

const filesUnder = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name)) : [];

const realXdgMime = ((): string | null => {
  try {
    return execFileSync('which', ['xdg-mime'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
})();

describe('claudemesh url-handler on Linux (temp HOME and XDG dirs)', () => {
  it.runIf(process.platform === 'linux')(
    realXdgMime ? 'installs the desktop entry and sets the default with the real xdg-mime' : 'installs the desktop entry and, with no xdg-mime on this machine, writes mimeapps.list itself',
    async () => {
      const u = user(realXdgMime ? `${dirname(realXdgMime)}:/usr/bin:/bin` : undefined); // xdg-mime is a shell script: it needs the usual tools
      const r = await cli(['url-handler', 'install', '--json'], u.env);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { associated_by: string; command: string[] };
      expect(report.command).toEqual([process.execPath, CLI]);
      expect(readFileSync(join(u.data, 'applications', DESKTOP), 'utf8')).toBe(EXPECTED_ENTRY);
      if (realXdgMime) {
        expect(report.associated_by).toBe('xdg-mime');
        const query = execFileSync(realXdgMime, ['query', 'default', 'x-scheme-handler/claudemesh'], { env: { ...process.env, ...u.env }, encoding: 'utf8' });
        expect(query.trim()).toBe(DESKTOP);
      } else {
        expect(report.associated_by).toBe('mimeapps.list');
        expect(readFileSync(join(u.config, 'mimeapps.list'), 'utf8')).toBe(`[Default Applications]\nx-scheme-handler/claudemesh=${DESKTOP}\n`);
      }
      const text = await cli(['url-handler', 'install'], u.env);
      expect(text.stdout).toMatch(/^claudemesh:\/\/ links now open with: .*claudemesh\.js <link>/);

      const removed = await cli(['url-handler', 'uninstall'], u.env);
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stdout).toMatch(/no longer handled by claudemesh/);
      expect(filesUnder(u.data)).toEqual([]);
      expect(filesUnder(u.config)).toEqual([]);
      const again = await cli(['url-handler', 'uninstall', '--json'], u.env);
      expect(JSON.parse(again.stdout)).toMatchObject({ action: 'uninstall', steps: [] });
    },
  );

  it.runIf(process.platform === 'linux')('runs xdg-mime default (and update-desktop-database) when they are on PATH, with the same XDG env', async () => {
    const u = user('/usr/bin:/bin'); // ours come first; the stand-ins need mkdir
    const log = join(u.home, 'calls.log');
    // Stand-ins that record how they were called; this xdg-mime writes mimeapps.list like the real one.
    writeFileSync(
      join(u.bin, 'xdg-mime'),
      `#!/bin/sh\necho "xdg-mime $* XDG_CONFIG_HOME=$XDG_CONFIG_HOME" >> ${log}\nmkdir -p "$XDG_CONFIG_HOME"\nprintf '[Default Applications]\\n%s=%s\\n' "$3" "$2" >> "$XDG_CONFIG_HOME/mimeapps.list"\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(u.bin, 'update-desktop-database'), `#!/bin/sh\necho "update-desktop-database $*" >> ${log}\n`, { mode: 0o755 });
    const r = await cli(['url-handler', 'install', '--json'], u.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ associated_by: 'xdg-mime' });
    expect(readFileSync(log, 'utf8').split('\n')).toEqual([
      `xdg-mime default ${DESKTOP} x-scheme-handler/claudemesh XDG_CONFIG_HOME=${u.config}`,
      `update-desktop-database -q ${join(u.data, 'applications')}`,
      '',
    ]);
    expect(await cli(['url-handler', 'uninstall'], u.env)).toMatchObject({ code: 0 });
    expect(readFileSync(log, 'utf8').trim().split('\n').pop()).toBe(`update-desktop-database -q ${join(u.data, 'applications')}`);
    expect(filesUnder(u.data)).toEqual([]);
    expect(filesUnder(u.config)).toEqual([]);
  });

  it.runIf(process.platform === 'linux')("uninstall removes only ours: another app's mimeapps.list entries and desktop files stay byte for byte", async () => {
    const u = user();
    const theirs = [
      '[Added Associations]',
      'text/html=firefox.desktop;',
      '',
      '[Default Applications]',
      'text/html=firefox.desktop',
      'x-scheme-handler/mailto=thunderbird.desktop',
      '',
      '[Removed Associations]',
      'image/png=gimp.desktop;',
      '',
    ].join('\n');
    mkdirSync(u.config, { recursive: true });
    mkdirSync(join(u.data, 'applications'), { recursive: true });
    writeFileSync(join(u.config, 'mimeapps.list'), theirs);
    writeFileSync(join(u.data, 'applications', 'firefox.desktop'), '[Desktop Entry]\nName=Firefox\n');
    expect((await cli(['url-handler', 'install'], u.env)).code).toBe(0);
    const installed = readFileSync(join(u.config, 'mimeapps.list'), 'utf8');
    expect(installed).toBe(theirs.replace('x-scheme-handler/mailto=thunderbird.desktop\n', `x-scheme-handler/mailto=thunderbird.desktop\nx-scheme-handler/claudemesh=${DESKTOP}\n`));
    expect((await cli(['url-handler', 'uninstall'], u.env)).code).toBe(0);
    expect(readFileSync(join(u.config, 'mimeapps.list'), 'utf8')).toBe(theirs);
    expect(filesUnder(u.data)).toEqual([join(u.data, 'applications', 'firefox.desktop')]);
    expect((await cli(['url-handler', 'frobnicate'], u.env)).code).toBe(2);
  });

  it('keeps another handler of the scheme behind ours, and gives it back on uninstall', () => {
    const before = '[Default Applications]\nx-scheme-handler/claudemesh=other.desktop;\n';
    const set = setDefault(before, 'x-scheme-handler/claudemesh', DESKTOP);
    expect(set).toBe(`[Default Applications]\nx-scheme-handler/claudemesh=${DESKTOP};other.desktop;\n`);
    expect(setDefault(set, 'x-scheme-handler/claudemesh', DESKTOP)).toBe(set);
    expect(removeDefault(set, 'x-scheme-handler/claudemesh', DESKTOP)).toBe(before);
    // Not ours: untouched.
    expect(removeDefault(before, 'x-scheme-handler/claudemesh', DESKTOP)).toBe(before);
    expect(setDefault('', 'a/b', 'x.desktop')).toBe('[Default Applications]\na/b=x.desktop\n');
  });

  it('quotes Exec arguments per the Desktop Entry spec', () => {
    expect(execArg('/usr/bin/node')).toBe('/usr/bin/node');
    expect(execArg('/home/a b/100%/x.js')).toBe('"/home/a b/100%%/x.js"');
    expect(execArg('/opt/$x"y')).toBe('"/opt/\\\\$x\\\\"y"');
    expect(desktopEntry(['/n', '/b c'])).toContain('Exec=/n "/b c" %u\n');
  });
});

describe('claudemesh:// links', () => {
  it('map onto the invite forms claudemesh join takes', () => {
    expect(schemeLinkToInvite('claudemesh://join/eyJhIjoxfQ')).toBe('ic://join/eyJhIjoxfQ');
    expect(schemeLinkToInvite('claudemesh://join/eyJhIjoxfQ/')).toBe('ic://join/eyJhIjoxfQ');
    expect(schemeLinkToInvite('claudemesh://i/ABCD-EFGH?broker=http%3A%2F%2F127.0.0.1%3A7900')).toBe('http://127.0.0.1:7900/i/ABCD-EFGH');
    expect(schemeLinkToInvite('claudemesh://i/ABCD-EFGH?broker=wss://mesh.example.com/ws')).toBe('https://mesh.example.com/i/ABCD-EFGH');
    expect(schemeLinkToInvite('claudemesh://i/ABCD-EFGH')).toBe('ABCD-EFGH');
    expect(schemeLinkToInvite('claudemesh://mesh.example.com:8443/i/ABCD-EFGH')).toBe('https://mesh.example.com:8443/i/ABCD-EFGH');
    for (const bad of ['claudemesh://', 'claudemesh://join/', 'claudemesh://join/a/b', 'claudemesh://i/X?broker=ftp://h', 'claudemesh://host/x/ABCD']) {
      expect(() => schemeLinkToInvite(bad), bad).toThrow(/not a claudemesh link I can open/);
    }
  });

  it('have a macOS applet and a Windows URL protocol registration (plans; run only on those systems)', () => {
    const mac = darwinInstallPlan({ HOME: '/Users/u' });
    const script = mac.find((s) => s.kind === 'write');
    expect(script && script.kind === 'write' && script.content).toContain('on open location theURL');
    const runs = mac.flatMap((s) => (s.kind === 'run' ? [s.argv.join(' ')] : []));
    expect(runs[0]).toBe(`/usr/bin/osacompile -o /Users/u/Applications/claudemesh-url-handler.app ${script!.path}`);
    expect(runs.some((r) => r.includes('CFBundleURLTypes') && r.includes('"CFBundleURLSchemes":["claudemesh"]'))).toBe(true);
    expect(runs.some((r) => /lsregister -f \/Users\/u\/Applications\/claudemesh-url-handler\.app$/.test(r))).toBe(true);
    const win = windowsInstallPlan().map((s) => (s.kind === 'run' ? s.argv : []));
    expect(win).toEqual([
      ['reg', 'add', 'HKCU\\Software\\Classes\\claudemesh', '/ve', '/d', 'URL:claudemesh invite link', '/f'],
      ['reg', 'add', 'HKCU\\Software\\Classes\\claudemesh', '/v', 'URL Protocol', '/d', '', '/f'],
      ['reg', 'add', 'HKCU\\Software\\Classes\\claudemesh\\shell\\open\\command', '/ve', '/d', `"${process.execPath}" "${CLI}" "%1"`, '/f'],
    ]);
  });
});

describe('claudemesh claudemesh://… against a live broker', () => {
  let tb: TestBroker;
  let owner: ReturnType<typeof user>;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    owner = user(process.env['PATH']);
    const created = await cli(['mesh', 'create', 'team', '--broker', tb.url, '--name', 'olive', '--json'], { ...owner.env, CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(created.code, created.stderr).toBe(0);
  });
  afterAll(async () => {
    await tb?.close();
  });

  const fakeClaude = (u: ReturnType<typeof user>): Record<string, string> => {
    const fake = join(u.home, 'claude');
    writeFileSync(fake, '#!/bin/sh\necho "claude $*"\nexit 7\n', { mode: 0o755 });
    return { ...u.env, CLAUDEMESH_CLAUDE_BIN: fake };
  };

  it('claudemesh://i/<code>?broker=… joins with the short code and execs Claude Code', async () => {
    const { link, code } = JSON.parse((await cli(['mesh', 'invite', '--json'], owner.env)).stdout) as { link: string; code: string };
    expect(link).toMatch(/\/i\//);
    const carol = user(process.env['PATH']);
    const env = fakeClaude(carol);
    const url = `claudemesh://i/${code}?broker=${encodeURIComponent(tb.url)}`;
    const first = await cli([url, '-y', '--name', 'carol'], env);
    expect(first.code, first.stderr).toBe(7);
    expect(first.stdout).toMatch(/joined "team" as carol/);
    expect(first.stdout).toContain('claude --dangerously-load-development-channels server:claudemesh');
    const meshes = JSON.parse((await cli(['mesh', 'list', '--json'], carol.env)).stdout) as Array<{ mesh_name: string; role: string }>;
    expect(meshes).toEqual([expect.objectContaining({ mesh_name: 'team', role: 'member' })]);
    const again = await cli([url, '-y'], env);
    expect(again.code).toBe(7);
    expect(again.stderr).toMatch(/already joined "team" as carol; launching/);
  });

  it('claudemesh://join/<blob> joins with the v1 signed link and execs Claude Code', async () => {
    const { link } = JSON.parse((await cli(['mesh', 'invite', '--v1', '--json'], owner.env)).stdout) as { link: string };
    expect(link).toMatch(/^ic:\/\/join\//);
    const dave = user(process.env['PATH']);
    const r = await cli([link.replace(/^ic:\/\//, 'claudemesh://'), '-y', '--name', 'dave', '--model', 'x'], fakeClaude(dave));
    expect(r.code, r.stderr).toBe(7);
    expect(r.stdout).toMatch(/joined "team" as dave/);
    expect(r.stdout).toContain('claude --dangerously-load-development-channels server:claudemesh --model x');
  });

  /** The owner's view of one invite: how many joined with it. */
  const usesOf = async (inviteId: string): Promise<number> => {
    const listed = JSON.parse((await cli(['mesh', 'invite', 'list', '--all', '--json'], owner.env)).stdout) as Array<{ invite_id: string; uses: number }>;
    return listed.find((i) => i.invite_id === inviteId)!.uses;
  };

  it('without a terminal, a clicked link joins nothing, starts nothing, and says how to join explicitly', async () => {
    const { code, invite_id: id } = JSON.parse((await cli(['mesh', 'invite', '--json'], owner.env)).stdout) as { code: string; invite_id: string };
    const gus = user(process.env['PATH']);
    const r = await cli([`claudemesh://i/${code}?broker=${encodeURIComponent(tb.url)}`], fakeClaude(gus));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/this link would join a mesh and start Claude Code, which needs a yes typed on a terminal; nothing was done/);
    expect(r.stderr).toContain(`next: to join explicitly: claudemesh join ${tb.url}/i/${code} --name <you>, then: claudemesh launch`);
    expect(r.stdout).not.toContain('claude ');
    expect(existsSync(join(gus.env['CLAUDEMESH_HOME']!, 'meshes'))).toBe(false);
    expect(await usesOf(id)).toBe(0);
  });

  it('on a terminal it shows the broker host, mesh and inviter first, and only a typed yes joins and launches', async () => {
    const { code, invite_id: id } = JSON.parse((await cli(['mesh', 'invite', '--uses', '3', '--json'], owner.env)).stdout) as { code: string; invite_id: string };
    const url = `claudemesh://i/${code}?broker=${encodeURIComponent(tb.url)}`;
    const hal = user(process.env['PATH']);
    const env = fakeClaude(hal);
    const ownerKey = (JSON.parse((await cli(['whoami', '--json'], owner.env)).stdout) as { member_pubkey: string }).member_pubkey;
    const prompt = 'Type yes to go on [no]:';
    for (const answer of ['', 'y', 'no']) {
      const declined = await cliOnTty([url, '--name', 'hal'], env, { when: prompt, answer });
      expect(declined.code, declined.out).toBe(2);
      expect(declined.out).toContain(`broker   ${new URL(tb.url).host}   (${tb.url})`);
      expect(declined.out).toMatch(/mesh {5}"team" {3}\([0-9a-f-]{36}\)/);
      expect(declined.out).toContain(`inviter  olive — member key ${ownerKey.slice(0, 16)}…`);
      expect(declined.out).toContain('Join "team" and start Claude Code? Type yes to go on [no]:');
      expect(declined.out).toContain('not confirmed: nothing was joined or started');
      expect(declined.out).not.toContain('claude --dangerously');
      expect(existsSync(join(env['CLAUDEMESH_HOME']!, 'meshes'))).toBe(false);
    }
    expect(await usesOf(id)).toBe(0);
    const accepted = await cliOnTty([url, '--name', 'hal'], env, { when: prompt, answer: 'yes' });
    expect(accepted.code, accepted.out).toBe(7);
    expect(accepted.out).toMatch(/joined "team" as hal/);
    expect(accepted.out).toContain('claude --dangerously-load-development-channels server:claudemesh');
    expect(await usesOf(id)).toBe(1);
    // Joined already: still asked before Claude Code starts.
    const again = await cliOnTty([url], env, { when: prompt, answer: 'no' });
    expect(again.code).toBe(2);
    expect(again.out).toContain('this link asks you to start Claude Code with a mesh you are in (as hal)');
    expect(again.out).not.toContain('claude --dangerously');
  }, 300_000);

  it('refuses a malformed claudemesh:// link with a usage error before contacting anything', async () => {
    const eve = user(process.env['PATH']);
    const r = await cli(['claudemesh://i/ABCD?broker=ftp://x', '-y'], fakeClaude(eve));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a claudemesh link I can open/);
    expect(r.stdout).not.toContain('claude ');
  });
});
