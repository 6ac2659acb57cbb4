import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, Payload, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import type { z } from 'zod';
import { controlFromEnv, controlSubject, type ControlChannel, type ControlPattern } from './control.js';

/** What a running plugin is given (docs/plugins.md §2.3). */
export interface PluginContext<C> {
  instance: string;
  config: C;
  /** The instance's own home: identity, joined meshes, state. */
  home: string;
  log(line: string): void;
}

/** What a started plugin answers the host with. */
export interface RunningPlugin {
  /** `plugin.health`; a plugin that cannot answer in time is unhealthy (hung). Default: ok. */
  health?(): Promise<{ ok: boolean; detail?: string }> | { ok: boolean; detail?: string };
  /** Plugin-defined counters for `plugin.status`. */
  counters?(): Record<string, number | string>;
  /** Finish in-flight work within `drainMs`; true when everything was drained. */
  stop(drainMs: number): Promise<boolean>;
}

export interface PluginDefinition<C> {
  name: string;
  version: string;
  /** The schema of the instance's `config` (zod): checked by `--check-config` and again at start. */
  configSchema: z.ZodType<C>;
  start(ctx: PluginContext<C>): Promise<RunningPlugin>;
}

/** Exit codes of a plugin process the host reads. */
export const PLUGIN_EXIT = Object.freeze({ ok: 0, configInvalid: 78, startFailed: 70 });

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The main of a plugin process. `node main.js --check-config` reads a config (JSON) on stdin and
 * prints `{ ok, issues }` (zod's issues, paths relative to the config), exiting 0 or 1. Otherwise it
 * starts the plugin with the host's environment and serves the control channel — a Nest
 * microservice over TCP, or NATS on the instance's own subjects — answering `plugin.health`,
 * `plugin.status` and `plugin.stop`.
 */
export async function runPlugin<C>(def: PluginDefinition<C>): Promise<void> {
  if (process.argv.includes('--check-config')) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readStdin());
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ ok: false, issues: [{ path: [], message: `not JSON: ${(error as Error).message}` }] })}\n`);
      process.exit(1);
    }
    const checked = def.configSchema.safeParse(raw);
    process.stdout.write(`${JSON.stringify(checked.success ? { ok: true, issues: [] } : { ok: false, issues: checked.error.issues.map((i) => ({ path: i.path, message: i.message, code: i.code, ...('keys' in i ? { keys: i.keys } : {}) })) })}\n`);
    process.exit(checked.success ? 0 : 1);
  }
  const instance = process.env['CLAUDEMESH_PLUGIN_INSTANCE'] ?? def.name;
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const checked = def.configSchema.safeParse(JSON.parse(process.env['CLAUDEMESH_PLUGIN_CONFIG'] ?? '{}'));
  if (!checked.success) {
    process.stderr.write(`config does not fit ${def.name}: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`);
    process.exit(PLUGIN_EXIT.configInvalid);
  }
  let control: ControlChannel;
  try {
    control = controlFromEnv(process.env, instance);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(PLUGIN_EXIT.startFailed);
  }
  // Over TCP the port is the instance's own; over NATS the subject has to be.
  const nats = control.transport === 'nats' ? control : null;
  const pattern = (p: ControlPattern): string => (nats ? controlSubject(nats.hostId, nats.instance, p) : p);
  let running: RunningPlugin;
  try {
    running = await def.start({ instance, config: checked.data, home: process.env['CLAUDEMESH_HOME'] ?? process.cwd(), log });
  } catch (error) {
    process.stderr.write(`${def.name} did not start: ${(error as Error).message}\n`);
    process.exit(PLUGIN_EXIT.startFailed);
  }
  const startedAt = Date.now();
  let state: 'running' | 'stopping' = 'running';
  let stopping: Promise<boolean> | null = null;
  const stop = (drainMs: number): Promise<boolean> => (stopping ??= (async () => {
    state = 'stopping';
    return running.stop(drainMs);
  })());

  @Controller()
  class ControlController {
    @MessagePattern(pattern('plugin.health'))
    async health(): Promise<{ ok: boolean; detail?: string }> {
      return running.health ? running.health() : { ok: true };
    }

    @MessagePattern(pattern('plugin.status'))
    status(): Record<string, unknown> {
      return { name: def.name, instance, version: def.version, state, started_at: startedAt, pid: process.pid, counters: running.counters?.() ?? {} };
    }

    @MessagePattern(pattern('plugin.stop'))
    async stop(@Payload() body: { drain_ms?: number }): Promise<{ drained: boolean }> {
      const drained = await stop(Math.max(0, Number(body?.drain_ms ?? 10_000)));
      // Answer first, then leave (over NATS, once the answer has left this process).
      setTimeout(() => void flush().then(() => app.close()).finally(() => process.exit(PLUGIN_EXIT.ok)), 20);
      return { drained };
    }
  }

  @Module({ controllers: [ControlController] })
  class ControlModule {}

  const app = await NestFactory.createMicroservice<MicroserviceOptions>(ControlModule, control.transport === 'nats'
    ? {
      transport: Transport.NATS,
      // Keeps reconnecting through a NATS restart: a client that gave up would leave the plugin deaf.
      options: { servers: control.servers, name: `claudemesh-plugin ${control.hostId}/${instance}`, maxReconnectAttempts: -1 },
      logger: false,
    }
    : { transport: Transport.TCP, options: { host: control.host, port: control.port }, logger: false });
  const flush = async (): Promise<void> => {
    if (nats) await app.unwrap<{ flush(): Promise<void> }>().flush().catch(() => undefined);
  };
  try {
    await app.listen();
  } catch (error) {
    const where = control.transport === 'nats' ? `NATS at ${control.servers.join(',')} (is nats-server running there?)` : `tcp://${control.host}:${control.port}`;
    process.stderr.write(`${def.name} cannot serve its control channel on ${where}: ${(error as Error).message}\n`);
    await running.stop(0).catch(() => undefined);
    process.exit(PLUGIN_EXIT.startFailed);
  }
  const leave = (): void => {
    void stop(0).finally(() => void app.close().finally(() => process.exit(PLUGIN_EXIT.ok)));
  };
  process.once('SIGTERM', leave);
  process.once('SIGINT', leave);
  log(`${def.name} ${def.version} started as ${instance}`);
}
