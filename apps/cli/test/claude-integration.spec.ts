import { issueInvite, type MeshClient } from '@claudemesh/core';
import { encodeInviteLink } from '@claudemesh/crypto';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presenceCachePath, writePresenceCache } from '../src/claude/presence-cache.js';
import { addMember, connectClient, createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';

const CLI = fileURLToPath(new URL('../bin/claudemesh.js', import.meta.url));
const CHANNEL = ['--dangerously-load-development-channels', 'server:claudemesh'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI binary; `env` replaces the variables we control, `input` goes to stdin and closes it. */
function cli(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  const base = { ...process.env };
  for (const key of ['HOME', 'CLAUDEMESH_HOME', 'CLAUDEMESH_CLAUDE_BIN']) delete base[key];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A HOME as a Claude Code user has it: other servers, unrelated keys, settings of its own. */
const ORIGINAL_CLAUDE_JSON = {
  numStartups: 42,
  userID: 'abc123',
  mcpServers: {
    github: { type: 'stdio', command: 'npx', args: ['-y', '@modelcontextprotocol/server-github'], env: { GITHUB_TOKEN: 't' } },
    remote: { type: 'http', url: 'https://example.com/mcp' },
  },
  projects: { '/work/app': { allowedTools: ['Bash(ls)'], mcpServers: {}, hasTrustDialogAccepted: true } },
  tipsHistory: { 'shift-enter': 3 },
  theme: 'dark — ünïcode',
};
const ORIGINAL_SETTINGS = { model: 'opus', permissions: { allow: ['Bash(git status)'] }, env: { FOO: 'bar' } };

interface Fixture {
  home: string;
  cmHome: string;
  claudeJson: string;
  settings: string;
  skillDir: string;
  env: Record<string, string>;
}

function fixture(opts: { claudeJson?: string | null; settings?: unknown } = {}): Fixture {
  const home = tempDir('cmh-claude-');
  const cmHome = join(home, 'cm');
  const claudeJson = join(home, '.claude.json');
  const settings = join(home, '.claude', 'settings.json');
  mkdirSync(join(home, '.claude'));
  const claudeText = opts.claudeJson === undefined ? JSON.stringify(ORIGINAL_CLAUDE_JSON, null, 2) : opts.claudeJson;
  if (claudeText !== null) {
    writeFileSync(claudeJson, claudeText);
    chmodSync(claudeJson, 0o640);
  }
  writeFileSync(settings, `${JSON.stringify(opts.settings ?? ORIGINAL_SETTINGS, null, 2)}\n`);
  return { home, cmHome, claudeJson, settings, skillDir: join(home, '.claude', 'skills', 'claudemesh'), env: { HOME: home, CLAUDEMESH_HOME: cmHome } };
}

const readJson = (file: string): Record<string, unknown> => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const ourStatusCommand = (cmHome: string) => `CLAUDEMESH_HOME=${cmHome} ${process.execPath} ${CLI} status-line`;

describe.concurrent('claudemesh install / uninstall on a real ~/.claude.json', () => {
  it('registers exactly our MCP server, keeps every other key, keeps the mode, and is idempotent', async () => {
    const f = fixture();
    const first = await cli(['install'], f.env);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/MCP server "claudemesh" added to ~\/\.claude\.json/);

    const after = readJson(f.claudeJson);
    const servers = after['mcpServers'] as Record<string, unknown>;
    expect(servers['claudemesh']).toStrictEqual({ type: 'stdio', command: process.execPath, args: [CLI, 'mcp'], env: { CLAUDEMESH_HOME: f.cmHome } });
    const { claudemesh: _ours, ...otherServers } = servers;
    // everything else is the original, in the original key order
    expect(JSON.stringify({ ...after, mcpServers: otherServers })).toBe(JSON.stringify(ORIGINAL_CLAUDE_JSON));
    expect(statSync(f.claudeJson).mode & 0o777).toBe(0o640);
    const bytes = readFileSync(f.claudeJson, 'utf8');
    expect(bytes).toBe(JSON.stringify(after, null, 2)); // 2-space indent, no newline added to a file that had none

    const second = await cli(['install'], f.env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/already registered/);
    expect(readFileSync(f.claudeJson, 'utf8')).toBe(bytes);

    const skill = readFileSync(join(f.skillDir, 'SKILL.md'), 'utf8');
    expect(skill).toMatch(/^---\nname: claudemesh\ndescription: \S.*\n---\n/);
    expect(skill).toContain('claudemesh send <to> <text...>');
    // without --status-line the settings file is not touched
    expect(readFileSync(f.settings, 'utf8')).toBe(`${JSON.stringify(ORIGINAL_SETTINGS, null, 2)}\n`);
  });

  it('creates a missing ~/.claude.json with mode 0600 and writes through a symlinked one', async () => {
    const fresh = fixture({ claudeJson: null });
    expect((await cli(['install'], { HOME: fresh.home })).code).toBe(0);
    expect(statSync(fresh.claudeJson).mode & 0o777).toBe(0o600);
    expect(readJson(fresh.claudeJson)).toStrictEqual({ mcpServers: { claudemesh: { type: 'stdio', command: process.execPath, args: [CLI, 'mcp'], env: {} } } });

    const linked = fixture({ claudeJson: null });
    const real = join(linked.home, 'dotfiles-claude.json');
    writeFileSync(real, JSON.stringify({ theme: 'light' }));
    symlinkSync(real, linked.claudeJson);
    expect((await cli(['install'], linked.env)).code).toBe(0);
    expect(lstatSync(linked.claudeJson).isSymbolicLink()).toBe(true);
    expect(readJson(real)).toMatchObject({ theme: 'light', mcpServers: { claudemesh: { args: [CLI, 'mcp'] } } });
  });

  it('--status-line sets a status line that really runs, and leaves a foreign one alone unless --force', async () => {
    const f = fixture();
    const set = await cli(['install', '--status-line', '--json'], f.env);
    expect(set.code).toBe(0);
    const report = JSON.parse(set.stdout) as { mcp_server: { action: string }; skill: { action: string }; status_line: { action: string } };
    expect([report.mcp_server.action, report.skill.action, report.status_line.action]).toEqual(['added', 'added', 'set']);
    const settings = readJson(f.settings);
    expect(settings).toStrictEqual({ ...ORIGINAL_SETTINGS, statusLine: { type: 'command', command: ourStatusCommand(f.cmHome) } });
    const settingsBytes = readFileSync(f.settings, 'utf8');
    const again = await cli(['install', '--status-line'], f.env);
    expect(again.stdout).toMatch(/status line already set/);
    expect(readFileSync(f.settings, 'utf8')).toBe(settingsBytes);
    // Claude Code runs it through a shell with the session JSON on stdin
    const shown = await runShell(ourStatusCommand(f.cmHome), '{"session_id":"s1","model":{"id":"x"}}');
    expect(shown).toEqual({ code: 0, stdout: '◇ claudemesh · not joined\n', stderr: '' });

    const foreign = fixture({ settings: { statusLine: { type: 'command', command: '~/bin/my-prompt.sh' } } });
    const kept = await cli(['install', '--status-line'], foreign.env);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toMatch(/status line left alone: .*my-prompt\.sh.*claudemesh install --status-line --force/);
    expect(readJson(foreign.settings)).toStrictEqual({ statusLine: { type: 'command', command: '~/bin/my-prompt.sh' } });
    const forced = await cli(['install', '--status-line', '--force'], foreign.env);
    expect(forced.stdout).toMatch(/status line replaced .*it was: "~\/bin\/my-prompt\.sh"/);
    expect(readJson(foreign.settings)).toStrictEqual({ statusLine: { type: 'command', command: ourStatusCommand(foreign.cmHome) } });
  });

  it('uninstall restores both files exactly, removes the skill, and a second uninstall changes nothing', async () => {
    const f = fixture();
    expect((await cli(['install', '--status-line'], f.env)).code).toBe(0);
    const removed = await cli(['uninstall', '--json'], f.env);
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ mcp_server: { action: 'removed' }, skill: { action: 'removed' }, status_line: { action: 'removed' } });
    expect(readJson(f.claudeJson)).toStrictEqual(ORIGINAL_CLAUDE_JSON);
    expect(readFileSync(f.claudeJson, 'utf8')).toBe(JSON.stringify(ORIGINAL_CLAUDE_JSON, null, 2));
    expect(statSync(f.claudeJson).mode & 0o777).toBe(0o640);
    expect(readJson(f.settings)).toStrictEqual(ORIGINAL_SETTINGS);
    expect(existsSync(f.skillDir)).toBe(false);

    const before = [readFileSync(f.claudeJson, 'utf8'), readFileSync(f.settings, 'utf8'), statSync(f.claudeJson).mtimeMs];
    const again = await cli(['uninstall', '--json'], f.env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ mcp_server: { action: 'absent' }, skill: { action: 'absent' }, status_line: { action: 'absent' } });
    expect([readFileSync(f.claudeJson, 'utf8'), readFileSync(f.settings, 'utf8'), statSync(f.claudeJson).mtimeMs]).toEqual(before);
  });

  it('uninstall keeps what is not ours: a foreign status line and a skill directory holding user files', async () => {
    const f = fixture({ settings: { statusLine: { type: 'command', command: 'starship prompt' } } });
    expect((await cli(['install', '--status-line'], f.env)).code).toBe(0);
    writeFileSync(join(f.skillDir, 'notes.md'), 'mine');
    const run = await cli(['uninstall'], f.env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/skill directory kept/);
    expect(readdirSync(f.skillDir).sort()).toEqual(['SKILL.md', 'notes.md']);
    expect(readJson(f.settings)).toStrictEqual({ statusLine: { type: 'command', command: 'starship prompt' } });
    expect(readJson(f.claudeJson)).toStrictEqual(ORIGINAL_CLAUDE_JSON);
  });

  it('a malformed ~/.claude.json is a clear error with a non-zero exit, and nothing is written', async () => {
    const broken = '{\n  "mcpServers": {\n    "github": { "command": "npx", }\n';
    const f = fixture({ claudeJson: broken });
    for (const args of [['install', '--status-line'], ['uninstall']]) {
      const run = await cli(args, f.env);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^claudemesh: ~\/\.claude\.json is not valid JSON .*nothing was changed.*run: claudemesh (install|uninstall)/);
      expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(readFileSync(f.claudeJson, 'utf8')).toBe(broken);
      expect(readFileSync(f.settings, 'utf8')).toBe(`${JSON.stringify(ORIGINAL_SETTINGS, null, 2)}\n`);
      expect(existsSync(f.skillDir)).toBe(false);
    }
  });
});

function runShell(command: string, input: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe.concurrent('claudemesh launch with a fake claude', () => {
  let binDir: string;
  let fakeClaude: string;
  beforeAll(() => {
    binDir = tempDir('cmh-bin-');
    fakeClaude = join(binDir, 'claude');
    writeFileSync(fakeClaude, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\nexit 7\n');
    chmodSync(fakeClaude, 0o755);
  });

  it('runs claude with our channel flag and every argument passed through, installs first, and exits with its code', async () => {
    const f = fixture({ claudeJson: null });
    const first = await cli(['launch', '--model', 'x', '-p', 'hi', '--help', 'two words'], { ...f.env, CLAUDEMESH_CLAUDE_BIN: fakeClaude });
    expect(first.code).toBe(7);
    expect(first.stdout.split('\n').slice(0, -1)).toEqual([...CHANNEL, '--model', 'x', '-p', 'hi', '--help', 'two words']);
    expect(first.stderr).toMatch(/not registered with Claude Code yet; installing first/);
    expect(readJson(f.claudeJson)).toMatchObject({ mcpServers: { claudemesh: { args: [CLI, 'mcp'] } } });

    const second = await cli(['launch', '--resume', 'abc'], { ...f.env, PATH: binDir });
    expect(second.code).toBe(7);
    expect(second.stdout.split('\n').slice(0, -1)).toEqual([...CHANNEL, '--resume', 'abc']);
    expect(second.stderr).toBe(''); // already installed: nothing to say
  });

  it('without claude it says how to install Claude Code and changes nothing', async () => {
    const f = fixture({ claudeJson: null });
    const missing = await cli(['launch'], { ...f.env, PATH: tempDir('cmh-empty-') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/claude\) was not found on PATH; install Claude Code: npm i -g @anthropic-ai\/claude-code/);
    expect(existsSync(f.claudeJson)).toBe(false);
    const wrong = await cli(['launch'], { ...f.env, CLAUDEMESH_CLAUDE_BIN: join(binDir, 'nope') });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/CLAUDEMESH_CLAUDE_BIN=.*nope is not an executable file; install Claude Code/);
  });
});

describe('claudemesh status-line against a live broker', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let owner: MeshClient;
  let cmHome: string;
  let meshId: string;
  let brokerUp = false;
  const session = '{"session_id":"abc","cwd":"/tmp","model":{"id":"claude-opus"}}';

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    brokerUp = true;
    mesh = await createTestMesh(tb, 'status-mesh');
    meshId = mesh.meshId;
    await addMember(tb, mesh, 'carol'); // a member who stays offline
    cmHome = tempDir('cmh-status-');
    const { invite } = await issueInvite(tb.url, { meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
    const joined = await cli(['join', encodeInviteLink(invite, mesh.meshKey), '--name', 'bob'], { CLAUDEMESH_HOME: cmHome });
    expect(joined.code).toBe(0);
    owner = await connectClient(tb, mesh, mesh.owner);
  });
  afterAll(async () => {
    await owner?.close();
    if (brokerUp) await tb?.close();
  });

  it('prints who is really online (not counting its own probe) and writes a 0600 cache', async () => {
    const t0 = Date.now();
    const run = await cli(['status-line'], { CLAUDEMESH_HOME: cmHome }, session);
    expect(run).toEqual({ code: 0, stdout: '◇ status-mesh · 1/3 online\n', stderr: '' });
    const file = presenceCachePath(cmHome, meshId);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const cache = readJson(file);
    expect(cache).toMatchObject({ mesh_name: 'status-mesh', online: 1, total: 3 });
    expect(cache['at']).toBeGreaterThanOrEqual(t0);
  });

  it('uses a fresh cache without asking the broker and refreshes a stale one', async () => {
    writePresenceCache(cmHome, meshId, { mesh_name: 'status-mesh', online: 5, total: 7 });
    expect((await cli(['status-line', '--mesh', 'status-mesh'], { CLAUDEMESH_HOME: cmHome }, session)).stdout).toBe('◇ status-mesh · 5/7 online\n');
    writePresenceCache(cmHome, meshId, { mesh_name: 'status-mesh', online: 5, total: 7, at: Date.now() - 61_000 });
    // stdin left open: the drain gives up after 50 ms instead of waiting for EOF
    expect((await cli(['status-line'], { CLAUDEMESH_HOME: cmHome })).stdout).toBe('◇ status-mesh · 1/3 online\n');
  });

  it('keeps showing the cached line when the broker goes away, then says offline, exiting 0', async () => {
    expect((await cli(['status-line'], { CLAUDEMESH_HOME: cmHome }, session)).stdout).toBe('◇ status-mesh · 1/3 online\n');
    await owner.close();
    await tb.close();
    brokerUp = false;
    expect(await cli(['status-line'], { CLAUDEMESH_HOME: cmHome }, session)).toEqual({ code: 0, stdout: '◇ status-mesh · 1/3 online\n', stderr: '' });
    rmSync(presenceCachePath(cmHome, meshId));
    expect(await cli(['status-line'], { CLAUDEMESH_HOME: cmHome }, session)).toEqual({ code: 0, stdout: '◇ status-mesh · offline\n', stderr: '' });
  });

  it('gives up on a broker that accepts but never answers within the 2 s budget', async () => {
    const silent = createServer(() => undefined); // holds every socket open, never speaks
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as AddressInfo;
    const hungHome = tempDir('cmh-hung-');
    mkdirSync(join(hungHome, 'meshes'));
    const stored = readJson(join(cmHome, 'meshes', `${meshId}.json`));
    writeFileSync(join(hungHome, 'meshes', `${meshId}.json`), JSON.stringify({ ...stored, broker_url: `http://127.0.0.1:${port}` }));
    let accepted = 0;
    silent.on('connection', () => accepted++);
    const run = await cli(['status-line'], { CLAUDEMESH_HOME: hungHome }, session);
    silent.close();
    // It got as far as the silent broker, then gave up on its own (a hang would time the test out).
    expect(accepted).toBeGreaterThanOrEqual(1);
    expect(run).toEqual({ code: 0, stdout: '◇ status-mesh · offline\n', stderr: '' });
    expect(existsSync(presenceCachePath(hungHome, meshId))).toBe(false);
  });

  it('with no mesh joined prints the not-joined line and exits 0', async () => {
    const empty = tempDir('cmh-none-');
    expect(await cli(['status-line'], { CLAUDEMESH_HOME: empty }, session)).toEqual({ code: 0, stdout: '◇ claudemesh · not joined\n', stderr: '' });
  });
});
