import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import semver from 'semver';
import { z } from 'zod';

/** Why the host will not run a plugin (docs/plugins.md §2.3); each names the plugin and what to do. */
export class PluginError extends Error {
  constructor(
    readonly code: 'E_PLUGIN_INVALID' | 'E_PLUGIN_INCOMPATIBLE' | 'E_PLUGIN_PERMISSION' | 'E_PLUGIN_CONFIG' | 'E_PLUGIN_NOT_FOUND' | 'E_PLUGIN_CONTROL',
    message: string,
  ) {
    super(message);
    this.name = 'PluginError';
  }
}

export const PluginCapability = z.enum(['read', 'send', 'admin']);
export type PluginCapability = z.output<typeof PluginCapability>;

/** What a plugin may do, as its manifest declares it and as an instance asks for it. */
export const PluginPermissions = z.strictObject({
  capabilities: z.array(PluginCapability).max(3).default([]),
  /** Topic names, or `*` for any the instance configures. */
  topics: z.array(z.string().regex(/^(\*|[a-z0-9][a-z0-9_-]{0,63})$/, 'a topic name or *')).max(256).default([]),
  /** Hosts outside the mesh it connects to. */
  outbound: z.array(z.string().regex(/^[a-z0-9.-]{1,253}$/, 'a host name')).max(64).default([]),
});
export type PluginPermissions = z.output<typeof PluginPermissions>;

/** The `claudemesh` object of a plugin's package.json, or its claudemesh-plugin.json (docs/plugins.md §1). */
export const PluginManifest = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'expected ^[a-z][a-z0-9-]{0,31}$'),
  kind: z.enum(['bridge', 'gateway', 'router', 'other']),
  compatibility: z.string().min(1).refine((r) => semver.validRange(r) !== null, 'expected a semver range (e.g. ^0.1.0)'),
  main: z.string().min(1),
  description: z.string().max(200).default(''),
  permissions: PluginPermissions,
  /** Where end-to-end encryption ends at this plugin, in one sentence (required: say "none" when it opens nothing). */
  e2e: z.string().min(1).max(300),
});
export type PluginManifest = z.output<typeof PluginManifest>;

/** A plugin found on disk: its manifest, its package version and where its entry is. */
export interface PluginPackage {
  dir: string;
  version: string;
  manifest: PluginManifest;
  /** Absolute path of `main`. */
  entry: string;
}

const describe = (error: z.ZodError): string => error.issues.map((i) => `${i.path.join('.') || '(manifest)'}: ${i.message}`).join('; ');

/** Reads and checks the manifest of the plugin in `dir` (E_PLUGIN_INVALID says what is wrong, and where). */
export function readPlugin(dir: string): PluginPackage {
  const abs = resolve(dir);
  const pkgFile = join(abs, 'package.json');
  if (!existsSync(pkgFile)) throw new PluginError('E_PLUGIN_NOT_FOUND', `no plugin at ${abs} (no package.json)`);
  let pkg: { version?: unknown; claudemesh?: unknown };
  try {
    pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as typeof pkg;
  } catch (error) {
    throw new PluginError('E_PLUGIN_INVALID', `${pkgFile}: not JSON (${(error as Error).message})`);
  }
  const separate = join(abs, 'claudemesh-plugin.json');
  let raw: unknown = pkg.claudemesh;
  let source = `${pkgFile} "claudemesh"`;
  if (raw === undefined && existsSync(separate)) {
    source = separate;
    try {
      raw = JSON.parse(readFileSync(separate, 'utf8'));
    } catch (error) {
      throw new PluginError('E_PLUGIN_INVALID', `${separate}: not JSON (${(error as Error).message})`);
    }
  }
  if (raw === undefined) throw new PluginError('E_PLUGIN_INVALID', `${abs} is not a claudemesh plugin: its package.json has no "claudemesh" manifest and there is no claudemesh-plugin.json`);
  const parsed = PluginManifest.safeParse(raw);
  if (!parsed.success) throw new PluginError('E_PLUGIN_INVALID', `${source}: ${describe(parsed.error)}`);
  const version = typeof pkg.version === 'string' && semver.valid(pkg.version) ? pkg.version : null;
  if (!version) throw new PluginError('E_PLUGIN_INVALID', `${pkgFile}: "version" must be a semver version`);
  return { dir: abs, version, manifest: parsed.data, entry: resolve(abs, parsed.data.main) };
}

/** E_PLUGIN_INCOMPATIBLE unless the host's version is in the plugin's `compatibility` range. */
export function checkCompatibility(plugin: PluginPackage, hostVersion: string): void {
  if (!semver.satisfies(hostVersion, plugin.manifest.compatibility, { includePrerelease: true })) {
    throw new PluginError(
      'E_PLUGIN_INCOMPATIBLE',
      `plugin ${plugin.manifest.name} ${plugin.version} wants a claudemesh host ${plugin.manifest.compatibility}; this host is ${hostVersion}: use a ${plugin.manifest.name} release made for ${hostVersion}, or a host it supports`,
    );
  }
}

/** E_PLUGIN_PERMISSION when an instance asks for more than the manifest declares. */
export function checkPermissions(plugin: PluginPackage, instance: string, asked: PluginPermissions): void {
  const declared = plugin.manifest.permissions;
  const extra = [
    ...asked.capabilities.filter((c) => !declared.capabilities.includes(c)).map((c) => `capability ${c}`),
    ...(declared.topics.includes('*') ? [] : asked.topics.filter((t) => !declared.topics.includes(t)).map((t) => `topic ${t}`)),
    ...asked.outbound.filter((h) => !declared.outbound.includes(h)).map((h) => `outbound host ${h}`),
  ];
  if (extra.length > 0) {
    throw new PluginError('E_PLUGIN_PERMISSION', `instance ${instance} asks for ${extra.join(', ')}, which plugin ${plugin.manifest.name} does not declare in its manifest`);
  }
}
