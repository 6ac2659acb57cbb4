import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { HOST_ID_RE, parseNatsServers } from './control.js';
import { PluginError, PluginPermissions } from './manifest.js';

const ms = (min: number, fallback: number) => z.number().int().min(min).max(24 * 3600_000).default(fallback);

/** One plugin instance of a host configuration (docs/plugins.md §3). */
export const InstanceConfig = z.strictObject({
  instance: z.string().regex(/^[a-z][a-z0-9-]{0,47}$/, 'expected ^[a-z][a-z0-9-]{0,47}$'),
  /** A plugin name (a package under plugins/) or a path to a plugin directory. */
  plugin: z.string().min(1),
  /** The instance's own home (identity, joined meshes, state). Default: <host home>/plugins/<instance>. */
  home: z.string().min(1).optional(),
  /** What the instance asks for; at most what the plugin's manifest declares. Default: the manifest's. */
  permissions: PluginPermissions.optional(),
  restart: z.strictObject({
    backoff_ms: ms(10, 500),
    max_backoff_ms: ms(10, 30_000),
    crash_loop: z.strictObject({ max: z.number().int().min(1).max(1000).default(5), window_ms: ms(100, 60_000) }).prefault({}),
  }).prefault({}),
  health: z.strictObject({ interval_ms: ms(50, 5_000), timeout_ms: ms(10, 2_000), misses: z.number().int().min(1).max(100).default(3), startup_ms: ms(100, 30_000) }).prefault({}),
  stop: z.strictObject({ drain_ms: ms(0, 10_000) }).prefault({}),
  /** Extra `node` options for the plugin's process (`--max-old-space-size=512`, `--cpu-prof`). */
  node_args: z.array(z.string().regex(/^--[a-z][a-z0-9-]*(=.*)?$/, 'a node option (--name or --name=value)')).max(16).default([]),
  /** The plugin's own settings, checked by the plugin's schema. */
  config: z.record(z.string(), z.unknown()).default({}),
});
export type InstanceConfig = z.output<typeof InstanceConfig>;

/**
 * The host's control channel to its plugins (docs/plugins.md §2.1). Without it: NATS when the env
 * has NATS_URL, else TCP on 127.0.0.1.
 */
export const ControlConfig = z.strictObject({
  transport: z.enum(['tcp', 'nats']).optional(),
  /** NATS servers, `nats://host:port[,nats://host:port…]`; default NATS_URL. */
  url: z.string().superRefine((value, ctx) => {
    try {
      parseNatsServers(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  }).optional(),
  /** Names this host in the NATS subjects of its instances; default: random per host start. */
  host_id: z.string().regex(HOST_ID_RE, `expected ${HOST_ID_RE.source}`).optional(),
}).superRefine((c, ctx) => {
  if (c.transport === 'tcp' && (c.url !== undefined || c.host_id !== undefined)) {
    ctx.addIssue({ code: 'custom', path: [c.url !== undefined ? 'url' : 'host_id'], message: 'only used with transport: nats; remove it or set transport: nats' });
  }
});
export type ControlConfig = z.output<typeof ControlConfig>;

export const HostConfig = z.strictObject({
  control: ControlConfig.optional(),
  plugins: z.array(InstanceConfig).min(1).max(64)
    .refine((list) => new Set(list.map((p) => p.instance)).size === list.length, 'instance names must be unique'),
});
export type HostConfig = z.output<typeof HostConfig>;

/** A parsed configuration file, able to say where in it a value is. */
export interface LoadedConfig {
  file: string;
  config: HostConfig;
  /**
   * `<file>:<line>:<column>` of the value at `path` (or of the nearest enclosing one that exists);
   * with `key`, of that key in the map at `path` (an unknown field).
   */
  where(path: ReadonlyArray<string | number>, key?: string): string;
}

/** `~/x` and relative paths, against the config file's directory. */
export function expandPath(p: string, base: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return resolve(base, p);
}

function locator(file: string, doc: Document, lines: LineCounter): (path: ReadonlyArray<string | number>, key?: string) => string {
  return (path, key) => {
    let range: [number, number, number] | undefined;
    for (let n = path.length; n >= 0 && !range; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) {
        range = node.range;
        // An unknown key: point at the key itself.
        if (key !== undefined && n === path.length && isMap(node)) {
          const pair = node.items.find((i) => isScalar(i.key) && i.key.value === key);
          const keyRange = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
          if (keyRange) range = keyRange;
        }
      }
    }
    const pos = lines.linePos(range?.[0] ?? 0);
    return `${file}:${pos.line}:${pos.col}`;
  };
}

/** Zod's issues as `<file>:<line>:<col>: <path>: <message>` lines, paths under `prefix`. */
export function describeIssues(loaded: Pick<LoadedConfig, 'where'>, issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string; code?: string; keys?: string[] }>, prefix: ReadonlyArray<string | number> = []): string {
  return issues.map((i) => {
    const path = [...prefix, ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))] as Array<string | number>;
    if (i.code === 'unrecognized_keys' && i.keys?.length) {
      return i.keys.map((k) => `${loaded.where(path, k)}: ${[...path, k].join('.')}: unknown field`).join('\n');
    }
    return `${loaded.where(path)}: ${path.join('.') || '(file)'}: ${i.message}`;
  }).join('\n');
}

/** A YAML file parsed with positions; E_PLUGIN_CONFIG when it cannot be read or is not YAML. */
function readYaml(file: string): { abs: string; doc: Document; where: LoadedConfig['where'] } {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (error) {
    throw new PluginError('E_PLUGIN_CONFIG', `${abs}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    throw new PluginError('E_PLUGIN_CONFIG', `${abs}:${pos.line}:${pos.col}: not valid YAML: ${e.message.split('\n')[0]}`);
  }
  return { abs, doc, where: locator(abs, doc, lines) };
}

/** Reads and checks a host configuration; E_PLUGIN_CONFIG names the file, line, column and field of every problem. */
export function loadHostConfig(file: string): LoadedConfig {
  const { abs, doc, where } = readYaml(file);
  const parsed = HostConfig.safeParse(doc.toJS());
  if (!parsed.success) throw new PluginError('E_PLUGIN_CONFIG', describeIssues({ where }, parsed.error.issues as never));
  return { file: abs, config: parsed.data, where };
}

/**
 * One instance from a file holding only the plugin's own config (`claudemesh bridge run <bridge.yaml>`):
 * the host's settings take their defaults, and a bad value still names that file, line and field.
 */
export function loadSingleInstanceConfig(file: string, plugin: string, instance: string): LoadedConfig {
  const { abs, doc, where: inner } = readYaml(file);
  // The plugin's config is the whole file: `plugins.0.config.<rest>` is `<rest>` in it.
  const where = (path: ReadonlyArray<string | number>, key?: string): string =>
    path[0] === 'plugins' && path[1] === 0 && path[2] === 'config' ? inner(path.slice(3), key) : `${abs}:1:1`;
  const body = doc.toJS() as unknown;
  if (body !== null && body !== undefined && (typeof body !== 'object' || Array.isArray(body))) throw new PluginError('E_PLUGIN_CONFIG', `${abs}:1:1: expected the ${plugin}'s settings as a map`);
  const parsed = HostConfig.safeParse({ plugins: [{ instance, plugin, config: body ?? {} }] });
  if (!parsed.success) throw new PluginError('E_PLUGIN_CONFIG', describeIssues({ where }, parsed.error.issues as never));
  return { file: abs, config: parsed.data, where };
}
