import { MeshClient, decodeBody, issueInvite, type InboundMessage } from '@claudemesh/core';
import { encodeInviteLink } from '@claudemesh/crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_METHOD } from '../src/mcp/channel.js';
import { connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';

/**
 * The single binary (apps/cli/build-sea.mjs): built once into a temp dir, then run with a PATH that
 * holds a few basic tools and no node, against a real broker. Also scripts/install.sh, fetching
 * that binary from a local HTTP server.
 */
const SEA = process.env.CLAUDEMESH_TEST_SEA === '1';
const WHY = 'builds a 100 MB binary, ~30 s in all; run with CLAUDEMESH_TEST_SEA=1';
const run = promisify(execFile);
const CLI_ROOT = fileURLToPath(new URL('..', import.meta.url));
const INSTALL_SH = join(CLI_ROOT, '..', '..', 'scripts', 'install.sh');
const VERSION = (JSON.parse(readFileSync(join(CLI_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NAME = `claudemesh-${process.platform}-${process.arch}`;
/** What scripts/install.sh and the test itself use; node is not among them. */
const TOOLS = ['sh', 'cat', 'cut', 'tr', 'sed', 'uname', 'mkdir', 'chmod', 'mv', 'rm', 'ls', 'env', 'curl', 'sha256sum'];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(file: string, args: string[], env: Record<string, string>): Promise<Result> {
  try {
    const { stdout, stderr } = await run(file, args, { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const temps: string[] = [];
const temp = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};

let out: string;
let binary: string;
let bin: string;
let userHome: string;

/** No node on this PATH: only symlinks to TOOLS. */
function toolsDir(): string {
  const dir = temp('cmh-sea-path-');
  for (const tool of TOOLS) {
    const found = ['/usr/local/bin', '/usr/bin', '/bin'].map((d) => join(d, tool)).find((f) => existsSync(f));
    if (!found) throw new Error(`${tool} is not installed here`);
    symlinkSync(found, join(dir, tool));
  }
  return dir;
}

/** A clean environment, as on a machine that never had Node: nothing of this process's NODE_* or npm_*. */
const envOf = (extra: Record<string, string> = {}): Record<string, string> => ({ PATH: bin, HOME: userHome, ...extra });

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('the single binary’s script (build-sea.mjs --bundle-only, run by every test run)', () => {
  it('bundles the CLI into one CommonJS file whose cliBinPath() is the binary itself', { timeout: 60_000 }, async () => {
    const dir = temp('cmh-sea-script-');
    const built = await exec(process.execPath, [join(CLI_ROOT, 'build-sea.mjs'), '--bundle-only', '--out', dir], { ...(process.env as Record<string, string>) });
    // The build itself fails when something is still loaded from disk at run time.
    expect(built.code, built.stderr).toBe(0);
    const script = readFileSync(join(dir, 'claudemesh.cjs'), 'utf8');
    // The prelude sets the module URL first; cliBinPath() sees it and answers the binary's own path.
    expect(script.indexOf('globalThis.__claudemeshSeaUrl=')).toBeGreaterThan(-1);
    expect(script).toMatch(/function cliBinPath\(\)\{return isSingleBinary\(\)\?process\.execPath:/);
    expect(script).toMatch(/function isSingleBinary\(\)\{return typeof globalThis\.__claudemeshSeaUrl=="string"\}/);
    expect(script).not.toMatch(/\bimport\.meta\b/);
    expect(script).not.toContain('require("better-sqlite3")');
  });
});

describe.skipIf(!SEA)(SEA ? 'the single binary (apps/cli/build-sea.mjs)' : `the single binary (skipped: ${WHY})`, () => {
  beforeAll(async () => {
    out = temp('cmh-sea-');
    const built = await exec(process.execPath, [join(CLI_ROOT, 'build-sea.mjs'), '--out', out], { ...(process.env as Record<string, string>) });
    expect(built.code, built.stderr).toBe(0);
    binary = join(out, NAME);
    bin = toolsDir();
    userHome = temp('cmh-sea-user-');
  }, 180_000);

  it('answers --version and --help with no node on PATH, and unpacks its files once into the cache', async () => {
    expect((await exec('sh', ['-c', 'command -v node || echo none'], envOf())).stdout.trim()).toBe('none');
    const home = temp('cmh-sea-home-');
    expect(await exec(binary, ['--version'], envOf({ CLAUDEMESH_HOME: home }))).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    const help = await exec(binary, ['--help'], envOf({ CLAUDEMESH_HOME: home }));
    expect(help.code, help.stderr).toBe(0);
    for (const verb of ['join', 'peers', 'send', 'inbox', 'mcp', 'daemon']) expect(help.stdout).toMatch(new RegExp(`^  ${verb}\\b`, 'm'));
    const cache = join(userHome, '.cache', 'claudemesh', 'sea');
    const [unpacked, ...more] = readdirSync(cache);
    expect(more).toEqual([]);
    expect(unpacked).toMatch(new RegExp(`^${VERSION.replaceAll('.', '\\.')}-[0-9a-f]{16}$`));
    expect(readdirSync(join(cache, unpacked!)).sort()).toEqual(['better_sqlite3.node', 'package.json', 'skill']);
    expect(statSync(join(cache, unpacked!, 'better_sqlite3.node')).mode & 0o077).toBe(0);
    expect(readFileSync(`${binary}.sha256`, 'utf8')).toBe(`${createHash('sha256').update(readFileSync(binary)).digest('hex')}  ${NAME}\n`);
  });

  it('knows it is the binary when asked to upgrade: points at the install script and runs nothing', async () => {
    const home = temp('cmh-sea-upgrade-');
    const r = await exec(binary, ['upgrade', '--json'], envOf({ CLAUDEMESH_HOME: home, CLAUDEMESH_DOWNLOAD_BASE: 'http://127.0.0.1:9/dl' }));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ install: 'binary', path: binary, upgraded: false, how: expect.stringContaining('http://127.0.0.1:9/dl/install.sh') });
  });

  describe('against a real broker', () => {
    let tb: TestBroker;
    let mesh: TestMesh;
    let owner: MeshClient;
    const ownerInbox: InboundMessage[] = [];
    const texts = () => ownerInbox.map((m) => decodeBody(m.text).text);

    beforeAll(async () => {
      tb = await startTestBroker('embedded');
      mesh = await createTestMesh(tb, 'sea-mesh');
      owner = await connectClient(tb, mesh, mesh.owner, {}, ownerInbox);
    }, 60_000);
    afterAll(async () => {
      await owner?.close();
      await tb?.close();
    });

    /** A new user of the binary: `init`, then `join` with an invite the owner issued. */
    async function newUser(name: string, env: Record<string, string> = {}): Promise<{ home: string; cli: (args: string[], more?: Record<string, string>) => Promise<Result> }> {
      const home = temp(`cmh-sea-${name}-`);
      const cli = (args: string[], more: Record<string, string> = {}) => exec(binary, args, envOf({ CLAUDEMESH_HOME: home, ...env, ...more }));
      const init = await cli(['init']);
      expect(init.code, init.stderr).toBe(0);
      const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
      const joined = await cli(['join', encodeInviteLink(invite, mesh.meshKey), '--name', name]);
      expect(joined.code, joined.stderr).toBe(0);
      return { home, cli };
    }

    it('joins, sends a message the owner receives, and keeps what arrives in its local inbox (no daemon)', async () => {
      const { home, cli } = await newUser('carol', { CLAUDEMESH_DAEMON: 'off' });
      const sent = await cli(['send', 'owner', 'from the single binary']);
      expect(sent.code, sent.stderr).toBe(0);
      await waitFor(() => texts().includes('from the single binary'), 'the owner to receive the send');
      expect(ownerInbox.find((m) => decodeBody(m.text).text === 'from the single binary')?.from.displayName).toBe('carol');

      await owner.send('carol', 'to the single binary');
      const inbox = await cli(['inbox', '--json']);
      expect(inbox.code, inbox.stderr).toBe(0);
      expect(inbox.stdout).toContain('to the single binary');
      // Kept in local.db (SQLite through the unpacked addon): a peek leaves it there for the next look.
      expect(existsSync(join(home, 'local.db'))).toBe(true);
      expect((await cli(['inbox', '--json'])).stdout).toContain('to the single binary');
    });

    it('starts itself as `daemon run`, and the fast path sends through that daemon', { timeout: 60_000 }, async () => {
      const { cli } = await newUser('dave');
      try {
        expect((await cli(['peers'])).code).toBe(0);
        const status = JSON.parse((await cli(['daemon', 'status', '--json'])).stdout) as { running: boolean; pid: number };
        expect(status.running).toBe(true);
        // `<binary> <binary> daemon run`: the daemon process is the binary itself.
        if (process.platform === 'linux') expect(readlinkSync(`/proc/${status.pid}/exe`)).toBe(binary);

        const fast = await cli(['send', 'owner', 'on the fast path'], { CLAUDEMESH_FAST: 'only' });
        expect(fast.code, fast.stderr).toBe(0);
        await waitFor(() => texts().includes('on the fast path'), 'the fast-path send');

        await owner.send('dave', 'kept by the daemon');
        let inbox = '';
        for (let i = 0; i < 100 && !inbox.includes('kept by the daemon'); i++) {
          inbox = (await cli(['inbox', '--json'], { CLAUDEMESH_FAST: 'only' })).stdout;
          if (!inbox.includes('kept by the daemon')) await new Promise((r) => setTimeout(r, 50));
        }
        expect(inbox).toContain('kept by the daemon');
      } finally {
        await cli(['daemon', 'stop']);
      }
    });

    it('registers itself with Claude Code (`install`): the MCP entry it writes starts the push-pipe', { timeout: 60_000 }, async () => {
      const { home, cli } = await newUser('erin', { CLAUDEMESH_DAEMON: 'off' });
      const installed = await cli(['install', '--json']);
      expect(installed.code, installed.stderr).toBe(0);
      const claudeJson = JSON.parse(readFileSync(join(userHome, '.claude.json'), 'utf8')) as { mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }> };
      const entry = claudeJson.mcpServers['claudemesh']!;
      expect(entry).toEqual({ type: 'stdio', command: binary, args: [binary, 'mcp'], env: { CLAUDEMESH_HOME: home } });
      // The skill comes from the unpacked copy of the package folder.
      expect(readFileSync(join(userHome, '.claude', 'skills', 'claudemesh', 'SKILL.md'), 'utf8')).toBe(readFileSync(join(CLI_ROOT, 'skill', 'SKILL.md'), 'utf8'));

      // Started exactly as Claude Code starts it.
      const transport = new StdioClientTransport({ command: entry.command, args: entry.args, env: { ...envOf(), ...entry.env, CLAUDEMESH_DAEMON: 'off' }, stderr: 'pipe' });
      const client = new Client({ name: 'sea-test', version: '0' });
      const pushed: string[] = [];
      client.fallbackNotificationHandler = async (n) => {
        if (n.method === CHANNEL_METHOD) pushed.push((n.params as { content: string }).content);
      };
      try {
        await client.connect(transport);
        expect(client.getServerVersion()?.name).toBe('claudemesh');
        await owner.send('erin', 'pushed into the Claude Code session');
        await waitFor(() => pushed.some((c) => c.includes('pushed into the Claude Code session')), 'the channel notification');
      } finally {
        await client.close();
      }
    });
  });

  describe('scripts/install.sh', () => {
    let server: Server;
    let base: string;

    beforeAll(async () => {
      const wrong = `${'0'.repeat(64)}  ${NAME}\n`;
      server = createServer((req, res) => {
        const [, dir, file] = (req.url ?? '').split('/');
        if ((dir !== 'good' && dir !== 'bad') || (file !== NAME && file !== `${NAME}.sha256`)) {
          res.writeHead(404).end('not found');
          return;
        }
        if (file.endsWith('.sha256')) {
          res.writeHead(200).end(dir === 'good' ? readFileSync(`${binary}.sha256`) : wrong);
          return;
        }
        res.writeHead(200, { 'content-length': statSync(binary).size });
        createReadStream(binary).pipe(res);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server?.close(resolve));
    });

    const install = (dir: string, from: string, extra: Record<string, string> = {}) =>
      exec('sh', [INSTALL_SH], envOf({ HOME: temp('cmh-sea-installer-'), CLAUDEMESH_DOWNLOAD_BASE: `${base}/${from}`, CLAUDEMESH_INSTALL_DIR: dir, ...extra }));

    it('without node on PATH, downloads the binary, checks its sha256 and installs it as `claudemesh`', { timeout: 60_000 }, async () => {
      const dir = join(temp('cmh-sea-prefix-'), 'bin');
      const r = await install(dir, 'good');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`installing the single binary ${base}/good/${NAME}`);
      expect(r.stdout).toContain(`installed claudemesh ${VERSION} at ${join(dir, 'claudemesh')}`);
      expect(r.stdout).toContain(`export PATH="${dir}:$PATH"`);
      expect(readdirSync(dir)).toEqual(['claudemesh']);
      expect(statSync(join(dir, 'claudemesh')).mode & 0o111).not.toBe(0);
      expect(await exec('claudemesh', ['--version'], envOf({ PATH: `${dir}:${bin}` }))).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    });

    it('refuses a download whose sha256 does not match, and leaves nothing behind', { timeout: 60_000 }, async () => {
      const dir = temp('cmh-sea-prefix-');
      const r = await install(dir, 'bad');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/checksum mismatch for claudemesh-[\w-]+: expected 0{64}, got [0-9a-f]{64}; nothing was installed/);
      expect(readdirSync(dir)).toEqual([]);
      const missing = await install(dir, 'nowhere');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(`could not download ${base}/nowhere/${NAME}`);
      expect(readdirSync(dir)).toEqual([]);
    });

    it('installs from its checkout when a Node 20.19+ is on PATH, and npm only with a tarball named (--dry-run)', async () => {
      const withNode = `${join(process.execPath, '..')}:${bin}`;
      const r = await exec('sh', [INSTALL_SH, '--dry-run'], envOf({ PATH: withNode }));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Node ${process.versions.node} found; installing from the checkout`);
      const npm = await exec('sh', [INSTALL_SH, '--dry-run'], envOf({ PATH: withNode, CLAUDEMESH_INSTALL_METHOD: 'npm', CLAUDEMESH_NPM_PACKAGE: '/tmp/claudemesh-cli-0.1.0.tgz' }));
      expect(npm.stdout).toContain(`Node ${process.versions.node} found: npm install -g /tmp/claudemesh-cli-0.1.0.tgz`);
      const none = await exec('sh', [INSTALL_SH, '--dry-run'], envOf());
      expect(none.stdout).toContain('no Node 20.19+ on PATH: installing the single binary');
    });
  });
});
