import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { controlSubject, loadHostConfig, type ControlPattern } from '../src/index.js';
import { FIXTURES, HANG_MS, codeAndMessage, harness, one, until } from './support.js';

/**
 * The control channel over NATS (docs/plugins.md §2.1), with real plugin processes and the NATS
 * server at NATS_URL (default nats://127.0.0.1:4222). Without one these cases are skipped with the
 * reason printed; CLAUDEMESH_TEST_NATS=required (CI) makes them fail instead, =off skips them.
 * The settings cases need no server and always run.
 */
const NATS_URL = process.env['NATS_URL']?.trim() || 'nats://127.0.0.1:4222';
const mode = (process.env['CLAUDEMESH_TEST_NATS'] ?? '').trim().toLowerCase();
const { host, yamlFile, stopHosts, remove } = harness();

/** Null when a NATS server greets us (its INFO line) at the first server of `url`, else why not. */
async function natsProblem(url: string): Promise<string | null> {
  const first = new URL(url.split(',')[0]!.trim());
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: first.hostname, port: Number(first.port || 4222) });
    let got = '';
    const done = (problem: string | null): void => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(2_000, () => done(`${url}: no INFO line within 2 s`));
    socket.on('error', (error: NodeJS.ErrnoException) => done(`${url}: ${error.code ?? error.message}`));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString();
      if (got.includes('\n')) done(got.startsWith('INFO ') ? null : `${url}: not a NATS server (it said ${JSON.stringify(got.slice(0, 40))})`);
    });
  });
}

const problem = mode === 'off' ? 'CLAUDEMESH_TEST_NATS=off' : await natsProblem(NATS_URL);
const skip = problem !== null && mode !== 'required';
if (skip) process.stderr.write(`plugin host over NATS skipped: ${problem}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const natsYaml = (plugins: string, extra = ''): string => `control: { transport: nats, url: "${NATS_URL}"${extra} }\nplugins:\n${plugins}`;

afterEach(stopHosts);
afterAll(remove);

describe('plugin control channel settings', () => {
  it('says which setting to fix: a url with tcp, a non-NATS url, a bad host id, nats without servers, a bad NATS_URL', async () => {
    const plugins = 'plugins:\n  - instance: one\n    plugin: probe\n';
    const tcpUrl = yamlFile(`control: { transport: tcp, url: nats://127.0.0.1:4222 }\n${plugins}`);
    expect((await codeAndMessage(() => loadHostConfig(tcpUrl))).message).toBe(`${tcpUrl}:1:33: control.url: only used with transport: nats; remove it or set transport: nats`);
    const http = yamlFile(`control: { transport: nats, url: "http://127.0.0.1:4222" }\n${plugins}`);
    expect((await codeAndMessage(() => loadHostConfig(http))).message).toBe(`${http}:1:34: control.url: http://127.0.0.1:4222: expected nats://host:port`);
    const creds = yamlFile(`control: { url: "nats://me:secret@127.0.0.1:4222" }\n${plugins}`);
    expect((await codeAndMessage(() => loadHostConfig(creds))).message).toMatch(/:1:17: control\.url: nats:\/\/127\.0\.0\.1:4222: credentials in the URL are not supported/);
    const id = yamlFile(`control: { transport: nats, url: "${NATS_URL}", host_id: "a.b" }\n${plugins}`);
    expect((await codeAndMessage(() => loadHostConfig(id))).message).toMatch(/control\.host_id: expected \^\[a-z0-9\]/);

    const noServers = await codeAndMessage(() => host(`control: { transport: nats }\n${plugins}`).start());
    expect(noServers.code).toBe('E_PLUGIN_CONFIG');
    expect(noServers.message).toMatch(/host-\d+\.yaml:1:23: control\.transport: transport nats needs its servers: set control\.url or NATS_URL/);
    const badEnv = await codeAndMessage(() => host(plugins, [], { NATS_URL: 'localhost:4222' }).start());
    expect(badEnv).toEqual({ code: 'E_PLUGIN_CONFIG', message: 'NATS_URL: localhost:4222: expected nats://host:port' });
  });

  it('refuses to start any plugin when NATS does not answer, and says what to do', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const lines: string[] = [];
    const h = host('plugins:\n  - instance: one\n    plugin: probe\n', lines, { NATS_URL: url });
    const e = await codeAndMessage(() => h.start());
    expect(e.code).toBe('E_PLUGIN_CONTROL');
    expect(e.message).toContain(`the plugin control channel cannot reach NATS at ${url} (`);
    expect(e.message).toContain('start nats-server there, correct NATS_URL or control.url, or run over TCP');
    expect(h.status()).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('a plugin refuses a nats:// control channel without its host id, and an unknown scheme', async () => {
    const run = promisify(execFile);
    const env = (control: string): NodeJS.ProcessEnv => {
      const e: NodeJS.ProcessEnv = { ...process.env, CLAUDEMESH_PLUGIN_INSTANCE: 'one', CLAUDEMESH_PLUGIN_CONTROL: control };
      delete e['CLAUDEMESH_PLUGIN_HOST_ID'];
      return e;
    };
    const refused = async (control: string): Promise<{ code: unknown; stderr: string }> => {
      try {
        await run(process.execPath, [join(FIXTURES, 'probe', 'main.mjs')], { env: env(control), timeout: HANG_MS });
        return { code: 0, stderr: '' };
      } catch (error) {
        return { code: (error as { code?: unknown }).code, stderr: String((error as { stderr?: string }).stderr) };
      }
    };
    const noId = await refused(NATS_URL);
    expect(noId.code).toBe(70);
    expect(noId.stderr).toContain('CLAUDEMESH_PLUGIN_HOST_ID must be set with a nats:// control channel');
    const udp = await refused('udp://127.0.0.1:9');
    expect(udp.code).toBe(70);
    expect(udp.stderr).toContain('control channel udp:// is not supported by this plugin runtime: expected tcp://host:port or nats://host:port');
  });
});

describe.skipIf(skip)(`plugin host over NATS${skip ? ` (skipped: ${problem})` : ''}`, () => {
  let client: ClientProxy;
  beforeAll(() => {
    client = ClientProxyFactory.create({ transport: Transport.NATS, options: { servers: NATS_URL.split(',') } });
  });
  // Each case fails on its own (not the suite as a whole), so that CI's count of failures shows it.
  beforeEach(() => {
    if (problem) throw new Error(`CLAUDEMESH_TEST_NATS=required but NATS is not usable: ${problem}; start nats-server (nats-server -p 4222) or point NATS_URL at one`);
  });
  afterAll(async () => {
    await client?.close();
  });
  /** Asks an instance directly on its subject, as anything on the NATS server could. */
  const ask = <T>(hostId: string, instance: string, pattern: ControlPattern): Promise<T> =>
    firstValueFrom(client.send<T>(controlSubject(hostId, instance, pattern), {}).pipe(timeout(HANG_MS)));
  const hostIdOf = (h: ReturnType<typeof host>): string => {
    const control = h.control();
    if (control.transport !== 'nats') throw new Error(`the host runs over ${control.transport}, not NATS`);
    return control.host_id;
  };

  it('with NATS_URL set, a plugin answers health and status on its instance subjects', async () => {
    const lines: string[] = [];
    const h = host('plugins:\n  - instance: steady\n    plugin: probe\n    health: { interval_ms: 100 }\n', lines, { NATS_URL });
    await h.start();
    const hostId = hostIdOf(h);
    expect(hostId).toMatch(/^[0-9a-f]{8}$/);
    expect(lines).toContain(`[host] control channel: NATS ${NATS_URL.split(',').map((s) => s.trim()).join(',')}, subjects claudemesh.ctl.${hostId}.<instance>.plugin.*`);
    await until(() => one(h).state === 'running', 'the probe to answer its health ping over NATS');
    expect(one(h).health).toMatchObject({ ok: true });
    await expect(ask(hostId, 'steady', 'plugin.health')).resolves.toEqual({ ok: true });
    const status = await ask<{ pid: number }>(hostId, 'steady', 'plugin.status');
    expect(status).toMatchObject({ name: 'probe', instance: 'steady', version: '1.2.0', state: 'running', pid: one(h).pid, counters: { ticks: expect.any(Number) } });
  });

  it('two hosts with the same instance name on one NATS server never answer each other', async () => {
    const fixed = `t${randomBytes(4).toString('hex')}`;
    const twin = '  - instance: twin\n    plugin: probe\n    health: { interval_ms: 100 }\n';
    const a = host(natsYaml(twin, `, host_id: ${fixed}`));
    const b = host(natsYaml(twin));
    await Promise.all([a.start(), b.start()]);
    expect(hostIdOf(a)).toBe(fixed);
    expect(hostIdOf(b)).not.toBe(fixed);
    await until(() => one(a).state === 'running' && one(b).state === 'running', 'both twins to answer their hosts');
    expect(one(a).pid).not.toBe(one(b).pid);
    expect(await ask(hostIdOf(a), 'twin', 'plugin.status')).toMatchObject({ pid: one(a).pid });
    expect(await ask(hostIdOf(b), 'twin', 'plugin.status')).toMatchObject({ pid: one(b).pid });
    // A host id nobody runs: no process answers it.
    await expect(ask(`t${randomBytes(4).toString('hex')}`, 'twin', 'plugin.status')).rejects.toThrow();
  });

  it('stops a plugin over NATS within its drain deadline', async () => {
    const lines: string[] = [];
    const h = host(natsYaml('  - instance: drainer\n    plugin: probe\n    health: { interval_ms: 100 }\n    stop: { drain_ms: 5000 }\n    config: { drain_ms: 300 }\n  - instance: cut\n    plugin: probe\n    health: { interval_ms: 100 }\n    stop: { drain_ms: 100 }\n    config: { drain_ms: 5000 }\n'), lines);
    await h.start();
    await until(() => h.status().every((s) => s.state === 'running'), 'both to run');
    await h.stop();
    expect(h.status().map((s) => [s.instance, s.state, s.last_exit?.code])).toEqual([['drainer', 'stopped', 0], ['cut', 'stopped', 0]]);
    // A SIGTERM would have drained for 0 ms: these lines come from plugin.stop over NATS.
    expect(lines).toEqual(expect.arrayContaining(['[drainer] drained in 300 ms', '[cut] drain cut at 100 ms']));
  });

  it('restarts a crashed plugin, which answers on the same subjects again', async () => {
    const lines: string[] = [];
    const h = host(natsYaml('  - instance: phoenix\n    plugin: probe\n    health: { interval_ms: 100 }\n    restart: { backoff_ms: 50 }\n'), lines);
    await h.start();
    await until(() => one(h).state === 'running', 'a first healthy answer');
    const first = one(h).pid!;
    process.kill(first, 'SIGKILL');
    await until(() => one(h).restarts === 1 && one(h).state === 'running', 'the restarted plugin to answer its health ping');
    expect(one(h).last_exit).toMatchObject({ signal: 'SIGKILL' });
    expect(one(h).pid).not.toBe(first);
    expect(await ask(hostIdOf(h), 'phoenix', 'plugin.status')).toMatchObject({ instance: 'phoenix', pid: one(h).pid });
    expect(lines).toContain('[host] phoenix exited (SIGKILL): restarting in 50 ms');
  });

  it('rides out a NATS restart: misses while the host is cut off do not count, and the plugin answers again', async () => {
    // Its own server, to stop and start again on the same port.
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    let server: ChildProcess | null = null;
    const startServer = async (): Promise<void> => {
      const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
      server = child;
      let failed: Error | null = null;
      child.once('error', (e) => (failed = e));
      const deadline = Date.now() + HANG_MS;
      while ((await natsProblem(url)) !== null) {
        if (failed) throw new Error(`nats-server did not start (${(failed as Error).message}): install it (apt-get install nats-server)`);
        if (Date.now() > deadline) throw new Error(`nats-server on ${url} did not answer`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const stopServer = async (): Promise<void> => {
      const child = server;
      server = null;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    };
    try {
      await startServer();
      const h = host(`control: { transport: nats, url: "${url}" }\nplugins:\n  - instance: steady\n    plugin: probe\n    health: { interval_ms: 100, timeout_ms: 500, misses: 3 }\n`);
      await h.start();
      await until(() => one(h).state === 'running', 'a first healthy answer');
      const pid = one(h).pid;
      await stopServer();
      // Several pings while cut off: without the guard, three misses would have killed the plugin.
      const seen = new Set<number>();
      await until(() => {
        if (one(h).restarts > 0) throw new Error(`the host restarted the plugin while NATS was down (last health: ${JSON.stringify(one(h).health)})`);
        const health = one(h).health;
        if (health && /the host is not connected to NATS/.test(health.detail ?? '')) seen.add(health.at);
        return seen.size >= 5;
      }, 'pings while NATS is down');
      await startServer();
      await until(() => one(h).health?.ok === true && one(h).health!.at > Math.max(...seen), 'the plugin to answer again through the restarted server');
      expect(one(h)).toMatchObject({ state: 'running', restarts: 0, pid });
    } finally {
      await stopServer();
    }
  });
});
