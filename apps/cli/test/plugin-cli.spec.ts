import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, cli, json } from './helpers/cli.js';

/** `claudemesh plugin …` through the real CLI, with the host and its plugins as real processes (docs/plugins.md §4). */
const FIXTURES = fileURLToPath(new URL('../../../libs/plugin/test/fixtures', import.meta.url));
const HANG_MS = 60_000;

describe('claudemesh plugin', () => {
  const home = mkdtempSync(join(tmpdir(), 'cmh-plugin-cli-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('lists the plugins of a folder with kind, version, host range, permissions and where E2E ends', async () => {
    const r = await cli(home, ['plugin', 'list', '--dir', FIXTURES, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json<Array<Record<string, unknown>>>(r)).toEqual([
      expect.objectContaining({ name: 'future', kind: 'router', version: '3.0.0', compatibility: '^9.0.0' }),
      expect.objectContaining({ name: 'probe', kind: 'other', version: '1.2.0', e2e: 'none: it opens nothing', permissions: { capabilities: ['read'], topics: ['general'], outbound: [] } }),
    ]);
    expect((await cli(home, ['plugin', 'list', '--dir', FIXTURES])).stdout).toMatch(/^probe +other +1\.2\.0 +host >=0\.1\.0 <1\.0\.0 read +e2e: none: it opens nothing$/m);
  });

  it('adds an instance with its own identity that joins a mesh by invite, and removes its home', async () => {
    const { ADMIN_TOKEN, startTestBroker } = await import('../../../test/helpers/broker.js');
    const tb = await startTestBroker('embedded');
    try {
      const owner = join(home, 'owner');
      expect((await cli(owner, ['mesh', 'create', 'hub', '--broker', tb.url, '--name', 'olive'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN, CLAUDEMESH_DAEMON: 'off' })).code).toBe(0);
      const { link } = json<{ link: string }>(await cli(owner, ['mesh', 'invite', '--json'], { CLAUDEMESH_DAEMON: 'off' }));
      expect((await cli(home, ['plugin', 'add', 'hub-bridge', '--join', link])).stderr).toMatch(/--plugin <name>/);
      expect((await cli(home, ['plugin', 'add', 'hub-bridge', '--join', link, '--plugin', 'probe', '--dir', FIXTURES, '--topics', 'ops'])).stderr).toMatch(/declares topics general; ops is beyond them/);
      const added = await cli(home, ['plugin', 'add', 'hub-bridge', '--plugin', 'probe', '--dir', FIXTURES, '--join', link, '--name', 'bridge', '--json']);
      expect(added.code, added.stderr).toBe(0);
      const out = json<{ home: string; meshes: Array<{ mesh_name: string; display_name: string }> }>(added);
      expect(out).toMatchObject({ home: join(home, 'plugins', 'hub-bridge'), plugin: 'probe', meshes: [{ mesh_name: 'hub', display_name: 'bridge' }], scope: { capabilities: ['read'], topics: ['general'] } });
      // Its own identity, not the caller's: the owner sees a member called bridge.
      const members = await cli(owner, ['member', 'list', '--json'], { CLAUDEMESH_DAEMON: 'off' });
      expect(json<Array<{ display_name: string }>>(members).map((m) => m.display_name)).toContain('bridge');
      // The broker holds its key to the manifest (probe: read, on #general): it reads, it cannot post or DM.
      const instance = { CLAUDEMESH_HOME: out.home, CLAUDEMESH_DAEMON: 'off' };
      const shown = await cli(owner, ['member', 'scope', 'bridge', '--json'], { CLAUDEMESH_DAEMON: 'off' });
      expect(json(shown)).toMatchObject({ display_name: 'bridge', scope: { capabilities: ['read'], topics: ['general'] } });
      expect((await cli(out.home, ['topic', 'history', 'general'], instance)).code).toBe(0);
      const post = await cli(out.home, ['topic', 'send', 'general', 'hello from a read-only plugin'], instance);
      expect(post.code).not.toBe(0);
      expect(post.stderr).toMatch(/E_FORBIDDEN/);
      const dm = await cli(out.home, ['message', 'send', 'olive', 'hi'], instance);
      expect(dm.code).not.toBe(0);
      expect(dm.stderr).toMatch(/E_FORBIDDEN/);
      // Its own keys cannot widen it; the owner can.
      expect((await cli(out.home, ['member', 'scope', 'me', '--capabilities', 'read,send'], instance)).stderr).toMatch(/only narrow your own scope/);
      const widened = await cli(owner, ['member', 'scope', 'bridge', '--capabilities', 'read,send', '--json'], { CLAUDEMESH_DAEMON: 'off' });
      expect(json(widened)).toMatchObject({ scope: { capabilities: ['read', 'send'], topics: ['general'] } });
      expect((await cli(home, ['plugin', 'remove', 'hub-bridge'])).code).toBe(2);
      const removed = await cli(home, ['plugin', 'remove', 'hub-bridge', '-y']);
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stdout).toMatch(/its member stays in "hub" until an owner or admin removes it: claudemesh member remove bridge -y/);
      expect((await cli(home, ['plugin', 'remove', 'hub-bridge', '-y'])).code).toBe(4);
    } finally {
      await tb.close();
    }
    // A dozen CLI processes in a row: the timeout only catches a hang.
  }, HANG_MS * 4);

  it('runs the host: status and logs answer while it runs, SIGTERM stops every plugin, a bad file starts nothing (exit 2)', async () => {
    expect((await cli(home, ['plugin', 'status'])).code).toBe(5);
    const bad = join(home, 'bad.yaml');
    writeFileSync(bad, 'plugins:\n  - instance: one\n    plugin: probe\n    config: { greeting: 7 }\n');
    const refused = await cli(home, ['plugin', 'run', bad, '--dir', FIXTURES]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`\\[E_PLUGIN_CONFIG\\] ${bad.replace(/[.]/g, '\\.')}:4:25: plugins\\.0\\.config\\.greeting: `));

    // The bridge's own settings file: a bad value names that file, its line and the field.
    const bridgeFile = join(home, 'bridge.yaml');
    writeFileSync(bridgeFile, 'routes:\n  - from: { mesh: alpha, topic: general }\n    to: { mesh: beta, topic: General }\nmax_hops: 2\n');
    const bridgeRefused = await cli(home, ['bridge', 'run', bridgeFile]);
    expect(bridgeRefused.code).toBe(2);
    expect(bridgeRefused.stderr).toMatch(new RegExp(`\\[E_PLUGIN_CONFIG\\] ${bridgeFile.replace(/[.]/g, '\\.')}:3:30: plugins\\.0\\.config\\.routes\\.0\\.to\\.topic: `));

    const file = join(home, 'plugins.yaml');
    writeFileSync(file, 'plugins:\n  - instance: steady\n    plugin: probe\n    health: { interval_ms: 100 }\n    config: { greeting: salut }\n');
    const host = spawn(process.execPath, [CLI, 'plugin', 'run', file, '--dir', FIXTURES], { env: { ...process.env, CLAUDEMESH_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    host.stdout.on('data', (c: Buffer) => (out += c.toString()));
    host.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => host.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + HANG_MS;
      let status: Array<{ instance: string; state: string }> = [];
      while (status[0]?.state !== 'running') {
        if (Date.now() > deadline) throw new Error(`the host did not report steady running: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
        const r = await cli(home, ['plugin', 'status', '--json']);
        if (r.code === 0) status = json(r);
      }
      expect(status).toEqual([expect.objectContaining({ instance: 'steady', plugin: 'probe', state: 'running', restarts: 0 })]);
      const logs = await cli(home, ['plugin', 'logs', 'steady', '-n', '10']);
      expect(logs.stdout).toMatch(/^\[steady\] greeting salut from pid \d+$/m);
      expect((await cli(home, ['plugin', 'logs', 'nobody'])).code).toBe(4);
    } finally {
      host.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('[host] SIGTERM: stopping every plugin');
    expect(out).toContain('[steady] drained in 0 ms');
    expect(out).toContain('[host] stopped');
    expect((await cli(home, ['plugin', 'status'])).code).toBe(5);
  }, HANG_MS * 2);
});
