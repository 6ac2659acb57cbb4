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

  it('runs the host: status and logs answer while it runs, SIGTERM stops every plugin, a bad file starts nothing (exit 2)', async () => {
    expect((await cli(home, ['plugin', 'status'])).code).toBe(5);
    const bad = join(home, 'bad.yaml');
    writeFileSync(bad, 'plugins:\n  - instance: one\n    plugin: probe\n    config: { greeting: 7 }\n');
    const refused = await cli(home, ['plugin', 'run', bad, '--dir', FIXTURES]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`\\[E_PLUGIN_CONFIG\\] ${bad.replace(/[.]/g, '\\.')}:4:25: plugins\\.0\\.config\\.greeting: `));

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
