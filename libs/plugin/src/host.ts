import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Logger } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { describeIssues, expandPath, type InstanceConfig, type LoadedConfig } from './config.js';
import { controlEnv, controlSubject, parseNatsServers, type ControlChannel, type ControlPattern } from './control.js';
import { checkCompatibility, checkPermissions, PluginError, readPlugin, type PluginPackage } from './manifest.js';

export type InstanceState = 'starting' | 'running' | 'unhealthy' | 'restarting' | 'crash-loop' | 'stopping' | 'stopped';

/** One instance as `plugin status` shows it. */
export interface InstanceStatus {
  instance: string;
  plugin: string;
  kind: string;
  version: string;
  state: InstanceState;
  pid: number | null;
  restarts: number;
  last_exit: { code: number | null; signal: string | null; at: number } | null;
  health: { ok: boolean; detail?: string; at: number } | null;
  /** The plugin's own counters (a gateway's: connected, linked users, last event, errors…), as of its last health ping; null before the first. */
  counters: Record<string, number | string> | null;
  e2e: string;
}

export interface PluginHostOptions {
  loaded: LoadedConfig;
  /** This host's version (the root package.json's). */
  hostVersion: string;
  /** Where plugins named by name are found: `<pluginsDir>/<name>`. */
  pluginsDir: string;
  /** The host's home: instances without `home` get `<home>/plugins/<instance>`. */
  home: string;
  /** Every line the host and its plugins print, prefixed. */
  log?: (line: string) => void;
  /** Where NATS_URL is read (docs/plugins.md §2.1); default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** How this host reaches its plugins. */
export type ControlInfo = { transport: 'tcp' } | { transport: 'nats'; servers: string[]; host_id: string };

const LOG_LINES = 1_000;
const KILL_AFTER_MS = 2_000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Instance {
  config: InstanceConfig;
  index: number;
  plugin: PluginPackage;
  home: string;
  state: InstanceState;
  child: ChildProcess | null;
  client: ClientProxy | null;
  restarts: number;
  /** Exit times the host did not ask for, within the crash-loop window. */
  crashes: number[];
  lastExit: InstanceStatus['last_exit'];
  health: InstanceStatus['health'];
  counters: InstanceStatus['counters'];
  misses: number;
  logs: string[];
  timers: Set<NodeJS.Timeout>;
  exited: Promise<void> | null;
  /** The control channel's port of the current process (TCP). */
  port: number;
  /** When the current process was started. */
  spawnedAt: number;
}

/**
 * The plugin host (docs/plugins.md §2): checks every configured instance (manifest, compatibility,
 * permissions, the plugin's own config schema) before starting any, runs each as its own process
 * with a control channel (a Nest microservice over TCP, or NATS with per-instance subjects), and
 * supervises them: restart with exponential backoff, a crash-loop limit, a health ping that restarts
 * a hung plugin, graceful stop with a drain deadline, and each plugin's log lines prefixed and kept.
 */
export class PluginHost {
  private readonly instances: Instance[] = [];
  private stopping = false;
  /**
   * Over NATS, one client for every instance (the subjects tell them apart); `up` and `upSince`
   * follow the host's own connection.
   */
  private nats: { servers: string[]; hostId: string; client: ClientProxy; up: boolean; upSince: number } | null = null;

  constructor(private readonly o: PluginHostOptions) {
    // Nest's TCP and NATS clients log every refused, reset or unanswered control request; the host
    // handles them (a plugin starting up, or gone) and reports them in its own words.
    Logger.overrideLogger(false);
  }

  private log(line: string): void {
    (this.o.log ?? ((l: string) => void process.stdout.write(`${l}\n`)))(line);
  }

  /** The control channel this host uses (after start). */
  control(): ControlInfo {
    return this.nats ? { transport: 'nats', servers: this.nats.servers, host_id: this.nats.hostId } : { transport: 'tcp' };
  }

  /**
   * The config's `control:` or else NATS_URL: NATS servers and this host's id, or null for TCP.
   * E_PLUGIN_CONFIG says which setting to fix.
   */
  private natsSettings(): { servers: string[]; hostId: string } | null {
    const control = this.o.loaded.config.control;
    const envUrl = (this.o.env ?? process.env)['NATS_URL']?.trim() || undefined;
    const transport = control?.transport ?? (control?.url || envUrl ? 'nats' : 'tcp');
    if (transport === 'tcp') return null;
    const url = control?.url ?? envUrl;
    if (!url) throw new PluginError('E_PLUGIN_CONFIG', `${this.o.loaded.where(['control', 'transport'])}: control.transport: transport nats needs its servers: set control.url or NATS_URL (nats://host:port)`);
    let servers: string[];
    try {
      servers = parseNatsServers(url);
    } catch (error) {
      // control.url was checked with the file; only the env's value can fail here.
      throw new PluginError('E_PLUGIN_CONFIG', `NATS_URL: ${(error as Error).message}`);
    }
    return { servers, hostId: control?.host_id ?? randomBytes(4).toString('hex') };
  }

  /** Checks everything, then starts every instance. Throws PluginError (and starts nothing) when one does not check. */
  async start(): Promise<void> {
    const nats = this.natsSettings();
    const base = dirname(this.o.loaded.file);
    const prepared: Instance[] = [];
    for (const [index, config] of this.o.loaded.config.plugins.entries()) {
      const where = this.o.loaded.where(['plugins', index, 'plugin']);
      const dir = isAbsolute(config.plugin) || config.plugin.startsWith('.') || config.plugin.startsWith('~') ? expandPath(config.plugin, base) : join(this.o.pluginsDir, config.plugin);
      let plugin: PluginPackage;
      try {
        plugin = readPlugin(dir);
        checkCompatibility(plugin, this.o.hostVersion);
        checkPermissions(plugin, config.instance, config.permissions ?? plugin.manifest.permissions);
      } catch (error) {
        if (error instanceof PluginError) throw new PluginError(error.code, `${where}: ${error.message}`);
        throw error;
      }
      await this.checkConfig(plugin, config, index);
      const home = config.home ? expandPath(config.home, base) : join(this.o.home, 'plugins', config.instance);
      prepared.push({
        config, index, plugin, home, state: 'starting', child: null, client: null, restarts: 0, crashes: [], lastExit: null, health: null, counters: null, misses: 0, logs: [], timers: new Set(), exited: null, port: 0, spawnedAt: 0,
      });
    }
    if (nats) await this.connectNats(nats);
    this.instances.push(...prepared);
    await Promise.all(this.instances.map((i) => this.spawn(i)));
  }

  /** Connects before any plugin starts, so that an unreachable NATS is one clear error rather than every plugin failing its start. */
  private async connectNats(nats: { servers: string[]; hostId: string }): Promise<void> {
    const client = ClientProxyFactory.create({
      transport: Transport.NATS,
      // Keeps reconnecting through a NATS restart; the health pings count the misses meanwhile.
      options: { servers: nats.servers, name: `claudemesh-plugin-host ${nats.hostId}`, maxReconnectAttempts: -1 },
    });
    try {
      await client.connect();
    } catch (error) {
      await client.close().catch(() => undefined);
      throw new PluginError('E_PLUGIN_CONTROL', `the plugin control channel cannot reach NATS at ${nats.servers.join(',')} (${(error as Error).message}): start nats-server there, correct NATS_URL or control.url, or run over TCP (unset NATS_URL, or control: { transport: tcp })`);
    }
    // upSince stays 0 until a reconnect: only that gives the plugins a grace period.
    const state = { ...nats, client, up: true, upSince: 0 };
    this.nats = state;
    client.status.subscribe((status) => {
      const up = status === 'connected';
      if (up && !state.up) state.upSince = Date.now();
      state.up = up;
    });
    this.log(`[host] control channel: NATS ${nats.servers.join(',')}, subjects ${controlSubject(nats.hostId, '<instance>', 'plugin.health').replace(/plugin\.health$/, 'plugin.*')}`);
  }

  /** `node <main> --check-config`, the instance's config on stdin: the plugin's own schema decides. */
  private async checkConfig(plugin: PluginPackage, config: InstanceConfig, index: number): Promise<void> {
    const child = spawn(process.execPath, [plugin.entry, '--check-config'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdin.end(JSON.stringify(config.config));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    let answer: { ok: boolean; issues: Array<{ path: Array<string | number>; message: string; code?: string; keys?: string[] }> };
    try {
      answer = JSON.parse(out.trim().split('\n').at(-1) ?? '') as typeof answer;
    } catch {
      throw new PluginError('E_PLUGIN_INVALID', `${this.o.loaded.where(['plugins', index, 'plugin'])}: plugin ${plugin.manifest.name} did not answer --check-config (exit ${code}): ${err.trim().slice(0, 500) || out.trim().slice(0, 500)}`);
    }
    if (!answer.ok) throw new PluginError('E_PLUGIN_CONFIG', describeIssues(this.o.loaded, answer.issues, ['plugins', index, 'config']));
  }

  private async spawn(i: Instance): Promise<void> {
    if (this.stopping) return;
    mkdirSync(i.home, { recursive: true, mode: 0o700 });
    let channel: ControlChannel;
    if (this.nats) {
      channel = { transport: 'nats', servers: this.nats.servers, hostId: this.nats.hostId, instance: i.config.instance };
    } else {
      i.port = await freePort();
      channel = { transport: 'tcp', host: '127.0.0.1', port: i.port };
    }
    i.state = 'starting';
    i.misses = 0;
    i.spawnedAt = Date.now();
    if (!this.nats) this.reconnect(i);
    const child = spawn(process.execPath, [...i.config.node_args, i.plugin.entry], {
      env: {
        ...process.env,
        CLAUDEMESH_PLUGIN_INSTANCE: i.config.instance,
        ...controlEnv(channel),
        CLAUDEMESH_PLUGIN_CONFIG: JSON.stringify(i.config.config),
        CLAUDEMESH_HOME: i.home,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    i.child = child;
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => this.line(i, line));
    }
    i.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        resolve();
        this.exited(i, child, code, signal);
      });
    });
    this.schedule(i, i.config.health.interval_ms, () => this.ping(i, child));
  }

  private line(i: Instance, line: string): void {
    const prefixed = `[${i.config.instance}] ${line}`;
    i.logs.push(prefixed);
    if (i.logs.length > LOG_LINES) i.logs.splice(0, i.logs.length - LOG_LINES);
    this.log(prefixed);
  }

  private schedule(i: Instance, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      i.timers.delete(t);
      fn();
    }, ms);
    i.timers.add(t);
  }

  /** A fresh control client: one whose connection failed (the plugin was not listening yet, or died) is not used again. */
  private reconnect(i: Instance): void {
    i.client?.close();
    i.client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: i.port } });
  }

  private async ask<T>(i: Instance, pattern: ControlPattern, body: unknown, ms: number): Promise<T> {
    const client = this.nats?.client ?? i.client;
    if (!client) throw new Error('no control channel');
    const subject = this.nats ? controlSubject(this.nats.hostId, i.config.instance, pattern) : pattern;
    try {
      return await firstValueFrom(client.send<T>(subject, body).pipe(timeout(ms)));
    } catch (error) {
      // A NATS client reconnects by itself; a TCP one is replaced.
      if (!this.nats) this.reconnect(i);
      throw error;
    }
  }

  /** The health ping: answered in time → running; missed `health.misses` times in a row → killed as hung (and restarted). */
  private async ping(i: Instance, child: ChildProcess): Promise<void> {
    if (i.child !== child || this.stopping || i.state === 'stopping') return;
    try {
      const answer = await this.ask<{ ok: boolean; detail?: string }>(i, 'plugin.health', {}, i.config.health.timeout_ms);
      if (i.child !== child) return;
      i.health = { ok: answer.ok, ...(answer.detail ? { detail: answer.detail } : {}), at: Date.now() };
      i.misses = 0;
      i.state = answer.ok ? 'running' : 'unhealthy';
      // What `plugin status` shows of the plugin's own, refreshed at the pace of the pings.
      void this.ask<{ counters?: Record<string, number | string> }>(i, 'plugin.status', {}, i.config.health.timeout_ms)
        .then((st) => {
          if (i.child === child) i.counters = st.counters ?? {};
        })
        .catch(() => undefined);
    } catch (error) {
      if (i.child !== child) return;
      // Starting up (Node and Nest take a moment before the control channel listens): not a miss yet.
      if (i.state === 'starting' && Date.now() - i.spawnedAt < i.config.health.startup_ms) {
        this.schedule(i, i.config.health.interval_ms, () => void this.ping(i, child));
        return;
      }
      // The host's own NATS connection is down, or just came back (the plugin's reconnects on its
      // own schedule, within startup_ms): no plugin could have answered, so it is no miss of theirs.
      if (this.nats && (!this.nats.up || Date.now() - this.nats.upSince < i.config.health.startup_ms)) {
        i.health = { ok: false, detail: `no answer to plugin.health: ${this.nats.up ? 'the host has just reconnected to NATS' : 'the host is not connected to NATS (reconnecting)'}`, at: Date.now() };
        this.schedule(i, i.config.health.interval_ms, () => void this.ping(i, child));
        return;
      }
      i.misses += 1;
      i.health = { ok: false, detail: `no answer to plugin.health within ${i.config.health.timeout_ms} ms (${(error as Error).message})`, at: Date.now() };
      if (i.state !== 'starting' || i.misses > 1) i.state = 'unhealthy';
      if (i.misses >= i.config.health.misses) {
        this.log(`[host] ${i.config.instance} did not answer ${i.misses} health pings: killing it (hung)`);
        child.kill('SIGKILL');
        return;
      }
    }
    this.schedule(i, i.config.health.interval_ms, () => void this.ping(i, child));
  }

  private exited(i: Instance, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (i.child !== child) return;
    i.child = null;
    i.lastExit = { code, signal, at: Date.now() };
    if (this.stopping || i.state === 'stopping') {
      i.state = 'stopped';
      return;
    }
    const now = Date.now();
    i.crashes = [...i.crashes.filter((t) => now - t < i.config.restart.crash_loop.window_ms), now];
    if (i.crashes.length >= i.config.restart.crash_loop.max) {
      i.state = 'crash-loop';
      this.log(`[host] ${i.config.instance} exited ${i.crashes.length} times within ${i.config.restart.crash_loop.window_ms} ms (last: ${signal ?? `code ${code}`}): not restarting it (crash loop); fix it and run the host again`);
      return;
    }
    const delay = Math.min(i.config.restart.max_backoff_ms, i.config.restart.backoff_ms * 2 ** (i.crashes.length - 1));
    i.state = 'restarting';
    i.restarts += 1;
    this.log(`[host] ${i.config.instance} exited (${signal ?? `code ${code}`}): restarting in ${delay} ms`);
    this.schedule(i, delay, () => void this.spawn(i));
  }

  status(): InstanceStatus[] {
    return this.instances.map((i) => ({
      instance: i.config.instance, plugin: i.plugin.manifest.name, kind: i.plugin.manifest.kind, version: i.plugin.version, state: i.state,
      pid: i.child?.pid ?? null, restarts: i.restarts, last_exit: i.lastExit, health: i.health, counters: i.counters, e2e: i.plugin.manifest.e2e,
    }));
  }

  /** The last `n` log lines of an instance. */
  logs(instance: string, n = 100): string[] {
    const i = this.instances.find((x) => x.config.instance === instance);
    if (!i) throw new PluginError('E_PLUGIN_NOT_FOUND', `no instance ${instance} in this host (${this.instances.map((x) => x.config.instance).join(', ')})`);
    return i.logs.slice(-n);
  }

  /**
   * Stops every instance at once: `plugin.stop` with its drain deadline, then SIGTERM, then SIGKILL
   * 2 s later. Resolves when all have exited.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.instances.map(async (i) => {
      for (const t of i.timers) clearTimeout(t);
      i.timers.clear();
      const child = i.child;
      if (!child) {
        if (i.state !== 'crash-loop') i.state = 'stopped';
        i.client?.close();
        return;
      }
      i.state = 'stopping';
      const drain = i.config.stop.drain_ms;
      await this.ask(i, 'plugin.stop', { drain_ms: drain }, drain + KILL_AFTER_MS).catch(() => undefined);
      const exited = i.exited!;
      const waited = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), KILL_AFTER_MS))]);
      if (!waited) {
        child.kill('SIGTERM');
        const termed = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), KILL_AFTER_MS))]);
        if (!termed) child.kill('SIGKILL');
        await exited;
      }
      i.client?.close();
    }));
    await this.nats?.client.close().catch(() => undefined);
  }
}
