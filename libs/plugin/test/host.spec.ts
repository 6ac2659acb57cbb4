import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadHostConfig } from '../src/index.js';
import { codeAndMessage, harness, one, until } from './support.js';

/**
 * The plugin host with real plugin processes (docs/plugins.md §2): the probe plugin's config says
 * when it crashes, hangs or how long it drains. Timeouts here only catch a hang. The same over NATS:
 * host-nats.spec.ts.
 */
const { host, yamlFile, stopHosts, remove } = harness();

afterEach(stopHosts);
afterAll(remove);

describe('plugin host configuration', () => {
  it('names the file, line, column and field of a bad value, an unknown field and a bad plugin config, and starts nothing', async () => {
    const bad = yamlFile(['plugins:', '  - instance: one', '    plugin: probe', '    restart:', '      backoff_ms: -5', '    restrat: {}', ''].join('\n'));
    const e = await codeAndMessage(() => loadHostConfig(bad));
    expect(e.code).toBe('E_PLUGIN_CONFIG');
    expect(e.message).toContain(`${bad}:5:19: plugins.0.restart.backoff_ms: `);
    expect(e.message).toContain(`${bad}:6:5: plugins.0.restrat: unknown field`);
    expect((await codeAndMessage(() => loadHostConfig(yamlFile('plugins: [\n')))).message).toMatch(/host-\d+\.yaml:\d+:\d+: not valid YAML/);

    const lines: string[] = [];
    const h = host(['plugins:', '  - instance: one', '    plugin: probe', '    config:', '      greeting: 42', '      colour: red', ''].join('\n'), lines);
    const c = await codeAndMessage(() => h.start());
    expect(c.code).toBe('E_PLUGIN_CONFIG');
    expect(c.message).toMatch(/host-\d+\.yaml:5:17: plugins\.0\.config\.greeting: .*string/);
    expect(c.message).toMatch(/host-\d+\.yaml:6:7: plugins\.0\.config\.colour: unknown field/);
    expect(h.status()).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('refuses a plugin whose compatibility range leaves out this host, and an instance asking for more than the manifest', async () => {
    const future = await codeAndMessage(() => host('plugins:\n  - instance: later\n    plugin: future\n').start());
    expect(future.code).toBe('E_PLUGIN_INCOMPATIBLE');
    expect(future.message).toMatch(/host-\d+\.yaml:3:13: plugin future 3\.0\.0 wants a claudemesh host \^9\.0\.0; this host is 0\.1\.0/);
    const greedy = await codeAndMessage(() => host('plugins:\n  - instance: greedy\n    plugin: probe\n    permissions: { capabilities: [read, send, admin], topics: [ops] }\n').start());
    expect(greedy.code).toBe('E_PLUGIN_PERMISSION');
    expect(greedy.message).toContain('instance greedy asks for capability send, capability admin, topic ops, which plugin probe does not declare');
    const missing = await codeAndMessage(() => host('plugins:\n  - instance: nowhere\n    plugin: nosuch\n').start());
    expect(missing.code).toBe('E_PLUGIN_NOT_FOUND');
  });
});

describe('plugin host supervision', () => {
  it('runs a plugin as its own process, answers status with its health and keeps its prefixed log lines', async () => {
    const lines: string[] = [];
    const h = host('plugins:\n  - instance: steady\n    plugin: probe\n    health: { interval_ms: 100 }\n    config: { greeting: bonjour }\n', lines);
    await h.start();
    await until(() => one(h).state === 'running', 'the probe to answer its health ping');
    expect(one(h)).toMatchObject({ instance: 'steady', plugin: 'probe', kind: 'other', version: '1.2.0', restarts: 0, e2e: 'none: it opens nothing', health: { ok: true } });
    expect(one(h).pid).not.toBe(process.pid);
    expect(h.logs('steady')).toEqual(expect.arrayContaining([expect.stringMatching(/^\[steady\] greeting bonjour from pid \d+$/), '[steady] probe 1.2.0 started as steady']));
    expect(lines).toEqual(expect.arrayContaining(['[steady] probe 1.2.0 started as steady']));
  });

  it('restarts a crashing plugin with growing backoff, and stops after the crash-loop limit', async () => {
    const lines: string[] = [];
    const h = host('plugins:\n  - instance: crashy\n    plugin: probe\n    restart: { backoff_ms: 50, crash_loop: { max: 3, window_ms: 60000 } }\n    config: { crash_after_ms: 100 }\n', lines);
    await h.start();
    await until(() => one(h).state === 'crash-loop', 'the crash-loop limit');
    expect(one(h)).toMatchObject({ state: 'crash-loop', restarts: 2, pid: null, last_exit: { code: 3 } });
    expect(lines.filter((l) => l.startsWith('[host] crashy exited (code 3): restarting in'))).toEqual([
      '[host] crashy exited (code 3): restarting in 50 ms', '[host] crashy exited (code 3): restarting in 100 ms',
    ]);
    expect(lines.at(-1)).toMatch(/^\[host\] crashy exited 3 times within 60000 ms \(last: code 3\): not restarting it \(crash loop\)/);
    expect(lines.filter((l) => /^\[crashy\] greeting hello/.test(l))).toHaveLength(3);
  });

  it('marks a hung plugin unhealthy and restarts it once it missed its pings', async () => {
    const lines: string[] = [];
    const h = host('plugins:\n  - instance: hung\n    plugin: probe\n    health: { interval_ms: 100, timeout_ms: 200, misses: 2 }\n    restart: { backoff_ms: 50 }\n    config: { hang_after_ms: 300 }\n', lines);
    await h.start();
    await until(() => one(h).state === 'running', 'a first healthy answer');
    await until(() => lines.some((l) => l === '[host] hung did not answer 2 health pings: killing it (hung)'), 'the host to kill the hung plugin');
    await until(() => one(h).restarts >= 1 && one(h).state !== 'restarting', 'the restart');
    expect(one(h).last_exit).toMatchObject({ signal: 'SIGKILL' });
  });

  it('stops a plugin through its control channel, within its drain deadline', async () => {
    const lines: string[] = [];
    const h = host('plugins:\n  - instance: drainer\n    plugin: probe\n    health: { interval_ms: 100 }\n    stop: { drain_ms: 5000 }\n    config: { drain_ms: 300 }\n  - instance: cut\n    plugin: probe\n    health: { interval_ms: 100 }\n    stop: { drain_ms: 100 }\n    config: { drain_ms: 5000 }\n', lines);
    await h.start();
    await until(() => h.status().every((s) => s.state === 'running'), 'both to run');
    await h.stop();
    expect(h.status().map((s) => [s.instance, s.state, s.last_exit?.code])).toEqual([['drainer', 'stopped', 0], ['cut', 'stopped', 0]]);
    expect(lines).toEqual(expect.arrayContaining(['[drainer] drained in 300 ms', '[cut] drain cut at 100 ms']));
  });
});
