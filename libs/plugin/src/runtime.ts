import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, Payload, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import type { z } from 'zod';

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
 * microservice over TCP — answering `plugin.health`, `plugin.status` and `plugin.stop`.
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
  const control = new URL(process.env['CLAUDEMESH_PLUGIN_CONTROL'] ?? 'tcp://127.0.0.1:0');
  if (control.protocol !== 'tcp:') {
    process.stderr.write(`control channel ${control.protocol} is not supported by this plugin runtime (tcp://host:port)\n`);
    process.exit(PLUGIN_EXIT.startFailed);
  }
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
    @MessagePattern('plugin.health')
    async health(): Promise<{ ok: boolean; detail?: string }> {
      return running.health ? running.health() : { ok: true };
    }

    @MessagePattern('plugin.status')
    status(): Record<string, unknown> {
      return { name: def.name, instance, version: def.version, state, started_at: startedAt, pid: process.pid, counters: running.counters?.() ?? {} };
    }

    @MessagePattern('plugin.stop')
    async stop(@Payload() body: { drain_ms?: number }): Promise<{ drained: boolean }> {
      const drained = await stop(Math.max(0, Number(body?.drain_ms ?? 10_000)));
      // Answer first, then leave.
      setTimeout(() => void app.close().finally(() => process.exit(PLUGIN_EXIT.ok)), 20);
      return { drained };
    }
  }

  @Module({ controllers: [ControlController] })
  class ControlModule {}

  const app = await NestFactory.createMicroservice<MicroserviceOptions>(ControlModule, {
    transport: Transport.TCP,
    options: { host: control.hostname, port: Number(control.port) },
    logger: false,
  });
  await app.listen();
  const leave = (): void => {
    void stop(0).finally(() => void app.close().finally(() => process.exit(PLUGIN_EXIT.ok)));
  };
  process.once('SIGTERM', leave);
  process.once('SIGINT', leave);
  log(`${def.name} ${def.version} started as ${instance}`);
}
