import { askHost, hostSocketPath } from '@claudemesh/plugin/control';
import { readPlugin, type PluginPackage } from '@claudemesh/plugin/manifest';
import { MemberScope, claudemeshHome, loadMeshes, setMemberScope } from '@claudemesh/core';
import { cryptoReady, parseIdentity } from '@claudemesh/crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { cliBinPath } from '../claude/cli-location.js';
import { CliError, EXIT, print } from '../context.js';
import { Gated } from '../gated.js';

interface PluginOptions {
  json?: boolean;
  dir?: string;
  lines?: number;
}

/** The plugin library's folder, in a claudemesh checkout (the host and plugins ship with the repository). */
function pluginLibDir(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('@claudemesh/plugin/package.json'));
  } catch {
    throw new CliError('the plugin host ships with the claudemesh repository: run claudemesh plugin … from a checkout (npm install there), or set CLAUDEMESH_PLUGIN_HOST and CLAUDEMESH_PLUGINS_DIR', EXIT.notFound);
  }
}

/** Where plugins named by name are: --dir, CLAUDEMESH_PLUGINS_DIR, or the checkout's plugins/. */
function pluginsDir(dir?: string): string {
  if (dir) return resolve(dir);
  if (process.env['CLAUDEMESH_PLUGINS_DIR']) return resolve(process.env['CLAUDEMESH_PLUGINS_DIR']);
  return join(pluginLibDir(), '..', '..', 'plugins');
}

const socketOf = (): string => hostSocketPath(claudemeshHome());

const dirOption = { flags: '--dir <path>', description: 'where plugins are (default: the checkout\'s plugins/, or CLAUDEMESH_PLUGINS_DIR)' };

@Gated({ resource: 'plugin', verb: 'list' })
@SubCommand({ name: 'list', aliases: ['ls'], description: 'The plugins you can run: name, kind, version, host compatibility, permissions and where end-to-end encryption ends' })
export class PluginListCommand extends CommandRunner {
  async run(_args: string[], options: PluginOptions): Promise<void> {
    const dir = pluginsDir(options.dir);
    const found: Array<PluginPackage | { dir: string; error: string }> = [];
    for (const name of existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort() : []) {
      try {
        found.push(readPlugin(join(dir, name)));
      } catch (error) {
        found.push({ dir: join(dir, name), error: (error as Error).message });
      }
    }
    const rows = found.map((p) => ('error' in p ? { dir: p.dir, error: p.error } : {
      name: p.manifest.name, kind: p.manifest.kind, version: p.version, compatibility: p.manifest.compatibility, description: p.manifest.description,
      permissions: p.manifest.permissions, e2e: p.manifest.e2e, dir: p.dir,
    }));
    const text = rows.length === 0 ? `(no plugins in ${dir})` : rows.map((r) => ('error' in r
      ? `${r.dir}: not a usable plugin: ${r.error}`
      : `${r.name.padEnd(16)} ${r.kind.padEnd(8)} ${r.version.padEnd(9)} host ${r.compatibility.padEnd(12)} ${r.permissions.capabilities.join(',') || '-'}  e2e: ${r.e2e}`)).join('\n');
    print(options.json ?? false, rows, text);
  }

  @Option({ ...dirOption })
  parseDir(value: string): string {
    return value;
  }

  @Option({ flags: '--json', description: 'one JSON array' })
  parseJson(): boolean {
    return true;
  }
}

/** Runs the host binary in the foreground with `args`, passing Ctrl-C/SIGTERM on; exits with its code. */
async function runHost(args: string[], dir?: string): Promise<void> {
  const bin = process.env['CLAUDEMESH_PLUGIN_HOST'] || join(pluginLibDir(), 'bin', 'claudemesh-plugin-host.mjs');
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: 'inherit',
    env: { ...process.env, CLAUDEMESH_HOME: claudemeshHome(), CLAUDEMESH_PLUGINS_DIR: pluginsDir(dir) },
  });
  // The host stops its plugins on these: pass them on and wait for it.
  const forward = (signal: NodeJS.Signals) => (): void => void child.kill(signal);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  process.exitCode = await new Promise<number>((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
}

interface BridgeRunOptions extends PluginOptions {
  instance?: string;
}

/**
 * `bridge run <bridge.yaml>`: the bridge alone, from a file of its own settings (routes, max_hops,
 * filter…), as one instance of a host — the short way for the commonest plugin (docs/plugins.md §5).
 */
@Gated({ resource: 'plugin', verb: 'run' })
@SubCommand({ name: 'run', arguments: '<config>', description: 'Run one bridge in the foreground from a file of its settings (routes, max_hops, filter…); its home is the one plugin add made for --instance (default bridge)' })
export class BridgeRunCommand extends CommandRunner {
  async run([file]: string[], options: BridgeRunOptions): Promise<void> {
    if (!file) throw new CliError('usage: claudemesh bridge run <bridge.yaml> [--instance <name>] (the bridge\'s routes: docs/plugins.md §5)', EXIT.usage);
    const instance = options.instance ?? 'bridge';
    instanceHome(instance);
    await runHost(['--single', 'bridge', instance, resolve(file)], options.dir);
  }

  @Option({ flags: '--instance <name>', description: 'the instance (its home: $CLAUDEMESH_HOME/plugins/<name>, made by plugin add <name> --plugin bridge); default bridge' })
  parseInstance(value: string): string {
    return value;
  }

  @Option({ ...dirOption })
  parseDir(value: string): string {
    return value;
  }
}

@Command({ name: 'bridge', description: 'Bridges between meshes (a plugin: docs/plugins.md §5); run one from its settings file', subCommands: [BridgeRunCommand] })
export class BridgeCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}

@Gated({ resource: 'plugin', verb: 'run' })
@SubCommand({ name: 'run', arguments: '<config>', description: 'Run the plugin host in the foreground: every instance of the config file (YAML) as its own supervised process (Ctrl-C stops them, draining)' })
export class PluginRunCommand extends CommandRunner {
  async run([file]: string[], options: PluginOptions): Promise<void> {
    if (!file) throw new CliError('usage: claudemesh plugin run <config> (a plugins YAML file)', EXIT.usage);
    await runHost([resolve(file)], options.dir);
  }

  @Option({ ...dirOption })
  parseDir(value: string): string {
    return value;
  }
}

interface StatusRow {
  instance: string;
  plugin: string;
  state: string;
  pid: number | null;
  restarts: number;
  health: { ok: boolean; detail?: string } | null;
  counters?: Record<string, number | string> | null;
  e2e: string;
}

@Gated({ resource: 'plugin', verb: 'status' })
@SubCommand({ name: 'status', description: 'The instances of the running plugin host: state (running, unhealthy, restarting, crash-loop, stopped), restarts, health' })
export class PluginStatusCommand extends CommandRunner {
  async run(_args: string[], options: PluginOptions): Promise<void> {
    const rows = await askHost<StatusRow[]>(socketOf(), '/status').catch((error: Error & { code?: string }) => {
      throw new CliError(error.message, error.code === 'E_NO_HOST' ? EXIT.unreachable : EXIT.failure);
    });
    // A second line per instance: the plugin's own counters (a gateway: connected, linked users, last event, errors).
    const counters = (r: StatusRow): string => (r.counters && Object.keys(r.counters).length > 0 ? `\n  ${Object.entries(r.counters).map(([k, v]) => `${k} ${v}`).join(' · ')}` : '');
    const text = rows.map((r) => `${r.instance.padEnd(20)} ${r.plugin.padEnd(12)} ${r.state.padEnd(11)} pid ${String(r.pid ?? '-').padEnd(7)} restarts ${r.restarts}${r.health && !r.health.ok && r.health.detail ? `  (${r.health.detail})` : ''}${counters(r)}`).join('\n');
    print(options.json ?? false, rows, text || '(no instances)');
  }

  @Option({ flags: '--json', description: 'one JSON array' })
  parseJson(): boolean {
    return true;
  }
}

@Gated({ resource: 'plugin', verb: 'logs' })
@SubCommand({ name: 'logs', arguments: '<instance>', description: 'The last log lines of an instance of the running plugin host' })
export class PluginLogsCommand extends CommandRunner {
  async run([instance]: string[], options: PluginOptions): Promise<void> {
    if (!instance) throw new CliError('usage: claudemesh plugin logs <instance>', EXIT.usage);
    const lines = await askHost<string[]>(socketOf(), `/logs?instance=${encodeURIComponent(instance)}&n=${options.lines ?? 100}`).catch((error: Error & { code?: string }) => {
      throw new CliError(error.message, error.code === 'E_NO_HOST' ? EXIT.unreachable : EXIT.notFound);
    });
    print(options.json ?? false, lines, lines.join('\n'));
  }

  @Option({ flags: '-n, --lines <n>', description: 'how many (default 100, at most 1000)' })
  parseLines(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new CliError('--lines is 1..1000', EXIT.usage);
    return n;
  }

  @Option({ flags: '--json', description: 'one JSON array of lines' })
  parseJson(): boolean {
    return true;
  }
}

interface AddOptions extends PluginOptions {
  join?: string[];
  name?: string;
  home?: string;
  yes?: boolean;
  plugin?: string;
  topics?: string[];
}

/** A plugin named by its folder under the plugins dir, or a path to its folder. */
function findPlugin(nameOrPath: string, dir?: string): PluginPackage {
  const path = nameOrPath.includes('/') || nameOrPath.startsWith('.') ? resolve(nameOrPath) : join(pluginsDir(dir), nameOrPath);
  try {
    return readPlugin(path);
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n  next: see the plugins there: claudemesh plugin list${dir ? ` --dir ${dir}` : ''}`, EXIT.notFound);
  }
}

/**
 * The scope an instance's member confines itself to (docs/plugins.md §1.1): the manifest's
 * capabilities, and its topics — or `--topics`, within them, for a manifest that says `*`.
 */
export function scopeForInstance(plugin: PluginPackage, topics?: string[]): MemberScope {
  const declared = plugin.manifest.permissions;
  const any = declared.topics.includes('*');
  if (topics && !any) {
    const beyond = topics.filter((t) => !declared.topics.includes(t));
    if (beyond.length > 0) throw new CliError(`plugin ${plugin.manifest.name} declares topics ${declared.topics.join(', ')}; ${beyond.join(', ')} is beyond them`, EXIT.usage);
  }
  const chosen = topics ?? (any ? null : declared.topics);
  const parsed = MemberScope.safeParse({ capabilities: declared.capabilities, topics: chosen && chosen.length > 0 ? chosen : null });
  if (!parsed.success) throw new CliError(`--topics: ${parsed.error.issues.map((i) => i.message).join('; ')}`, EXIT.usage);
  return parsed.data;
}

/** An instance's home: --home, or `<CLAUDEMESH_HOME>/plugins/<instance>` (where the host looks by default). */
function instanceHome(instance: string, home?: string): string {
  if (!/^[a-z][a-z0-9-]{0,47}$/.test(instance)) throw new CliError(`"${instance}" is not an instance name (a-z 0-9 -, up to 48, starting with a letter)`, EXIT.usage);
  return home ? resolve(home) : join(claudemeshHome(), 'plugins', instance);
}

@Gated({ resource: 'plugin', verb: 'add' })
@SubCommand({ name: 'add', arguments: '<instance>', description: 'Give a plugin instance its own identity: a home of its own that joins each mesh (--join <invite link>, repeatable) as a peer' })
export class PluginAddCommand extends CommandRunner {
  async run([instance]: string[], options: AddOptions): Promise<void> {
    if (!instance) throw new CliError('usage: claudemesh plugin add <instance> --join <invite link> [--join …]', EXIT.usage);
    const home = instanceHome(instance, options.home);
    const links = options.join ?? [];
    if (links.length === 0) throw new CliError('say which meshes it joins: --join <invite link> (once per mesh)', EXIT.usage);
    if (!options.plugin) throw new CliError('say which plugin it runs: --plugin <name> (its manifest sets what the instance\'s member may do)', EXIT.usage);
    const plugin = findPlugin(options.plugin, options.dir);
    const scope = scopeForInstance(plugin, options.topics);
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const name = options.name ?? instance;
    for (const link of links) {
      // The real `join`, run with the instance's home: its identity is made there and nowhere else.
      const r = spawnSync(process.execPath, [cliBinPath(), 'join', link, '--name', name], { env: { ...process.env, CLAUDEMESH_HOME: home, CLAUDEMESH_DAEMON: 'off' }, encoding: 'utf8' });
      if (r.status !== 0) throw new CliError(`${instance} could not join: ${(r.stderr || r.stdout).trim()}`, r.status ?? EXIT.failure);
    }
    // The member confines itself to the manifest before any plugin code runs with its keys: the
    // broker holds it there, and only an owner or admin can widen it (docs/protocol.md §8.3).
    await cryptoReady();
    const joined = loadMeshes(home);
    for (const m of joined) {
      const identity = parseIdentity(m.identity);
      try {
        await setMemberScope(m.broker_url, identity, m.mesh_id, identity.publicKey, scope);
      } catch (error) {
        throw new CliError(`${instance} joined "${m.mesh_name}" but could not confine its member to the plugin's permissions: ${(error as Error).message}\n  next: remove it (claudemesh member remove ${m.display_name} -y in that mesh) and run plugin add again`, EXIT.failure);
      }
    }
    const meshes = joined.map((m) => ({ mesh_id: m.mesh_id, mesh_name: m.mesh_name, display_name: m.display_name }));
    const snippet = `  - instance: ${instance}\n    plugin: ${plugin.manifest.name}\n    home: ${home}\n    config: {}`;
    const reach = `${scope.capabilities.join(', ') || 'nothing'}${scope.topics ? ` on topics ${scope.topics.join(', ')}` : ' on any topic'}`;
    print(options.json ?? false, { instance, plugin: plugin.manifest.name, home, meshes, scope },
      `${instance} is a peer of ${meshes.map((m) => `"${m.mesh_name}"`).join(', ')} as ${name}, with its own keys in ${home}\nits member is confined to what ${plugin.manifest.name} declares: ${reach}\nadd it to your plugins.yaml:\n${snippet}`);
  }

  @Option({ flags: '--join <link>', description: 'an invite link of a mesh it joins (repeat for each mesh)' })
  parseJoin(value: string, previous: string[] = []): string[] {
    return [...previous, value];
  }

  @Option({ flags: '--plugin <name>', description: 'the plugin it runs (a name under the plugins dir, or a path): its manifest\'s permissions confine the member' })
  parsePlugin(value: string): string {
    return value;
  }

  @Option({ flags: '--topics <names>', description: 'comma-separated topics, within the manifest\'s (needed to narrow a plugin that declares any topic)' })
  parseTopics(value: string): string[] {
    return value.split(',').map((t) => t.trim().replace(/^#/, '')).filter(Boolean);
  }

  @Option({ ...dirOption })
  parseDir(value: string): string {
    return value;
  }

  @Option({ flags: '--name <name>', description: 'its display name in the meshes (default: the instance name)' })
  parseName(value: string): string {
    return value;
  }

  @Option({ flags: '--home <dir>', description: 'its home (default: $CLAUDEMESH_HOME/plugins/<instance>)' })
  parseHome(value: string): string {
    return value;
  }

  @Option({ flags: '--json', description: 'one JSON object' })
  parseJson(): boolean {
    return true;
  }
}

@Gated({ resource: 'plugin', verb: 'remove', confirm: true })
@SubCommand({ name: 'remove', arguments: '<instance>', description: 'Delete a plugin instance\'s home and keys on this machine (its members stay in the meshes until an admin removes them)' })
export class PluginRemoveCommand extends CommandRunner {
  async run([instance]: string[], options: AddOptions): Promise<void> {
    if (!instance) throw new CliError('usage: claudemesh plugin remove <instance> -y', EXIT.usage);
    const home = instanceHome(instance, options.home);
    if (!existsSync(home)) throw new CliError(`no instance home at ${home}`, EXIT.notFound);
    const meshes = loadMeshes(home);
    if (!options.yes) throw new CliError(`this deletes ${instance}'s keys and state in ${home}; re-run with -y to confirm`, EXIT.usage);
    rmSync(home, { recursive: true, force: true });
    const left = meshes.map((m) => `"${m.mesh_name}"`).join(', ');
    print(options.json ?? false, { instance, home, removed: true, meshes: meshes.map((m) => m.mesh_id) },
      `removed ${instance} (${home})${meshes.length ? `\nits member stays in ${left} until an owner or admin removes it: claudemesh member remove ${meshes[0]!.display_name} -y` : ''}`);
  }

  @Option({ flags: '--home <dir>', description: 'its home (default: $CLAUDEMESH_HOME/plugins/<instance>)' })
  parseHome(value: string): string {
    return value;
  }

  @Option({ flags: '-y, --yes', description: 'do not ask' })
  parseYes(): boolean {
    return true;
  }

  @Option({ flags: '--json', description: 'one JSON object' })
  parseJson(): boolean {
    return true;
  }
}

@Command({ name: 'plugin', description: 'Plugins: peers around the hub (bridges, routers, gateways), run and supervised by a host (docs/plugins.md)', subCommands: [PluginListCommand, PluginAddCommand, PluginRemoveCommand, PluginRunCommand, PluginStatusCommand, PluginLogsCommand] })
export class PluginCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
