import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { hostSocketPath, serveHostControl } from './control-socket.js';
import { loadHostConfig, loadSingleInstanceConfig } from './config.js';
import { PluginHost } from './host.js';
import { PluginError } from './manifest.js';

/**
 * `claudemesh plugin run <plugins.yaml>` runs this in its own process (docs/plugins.md §2): the host
 * in the foreground, every plugin's log line on stdout, `status`/`logs` on a socket in the home.
 * Env: CLAUDEMESH_HOME (default ~/.claudemesh), CLAUDEMESH_PLUGINS_DIR (where plugins named by name
 * are), CLAUDEMESH_HOST_VERSION (else the root package.json's version). Exit: 0 after a stop on
 * SIGINT/SIGTERM, 2 for a configuration or plugin that does not check (nothing started), 1 otherwise.
 */
export async function hostMain(argv: readonly string[], rootDir: string): Promise<void> {
  // `--single <plugin> <instance> <file>`: the file is that plugin's own config (`claudemesh bridge run`).
  const single = argv[0] === '--single' ? { plugin: argv[1], instance: argv[2] } : null;
  const file = single ? argv[3] : argv[0];
  if (!file || (single && (!single.plugin || !single.instance))) {
    process.stderr.write('usage: claudemesh plugin run <plugins.yaml>\n');
    process.exit(2);
  }
  const home = process.env['CLAUDEMESH_HOME'] || join(homedir(), '.claudemesh');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const hostVersion = process.env['CLAUDEMESH_HOST_VERSION'] || (JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as { version: string }).version;
  const pluginsDir = process.env['CLAUDEMESH_PLUGINS_DIR'] || join(rootDir, 'plugins');
  let host: PluginHost;
  try {
    host = new PluginHost({ loaded: single ? loadSingleInstanceConfig(file, single.plugin!, single.instance!) : loadHostConfig(file), hostVersion, pluginsDir, home });
    await host.start();
  } catch (error) {
    if (error instanceof PluginError) {
      process.stderr.write(`[${error.code}] ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const socket = hostSocketPath(home);
  const server = await serveHostControl(socket, { status: () => host.status(), logs: (i, n) => host.logs(i, n) });
  process.stdout.write(`[host] running ${host.status().length} plugin instance(s); status: claudemesh plugin status\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`[host] ${signal}: stopping every plugin\n`);
    void host.stop().then(() => {
      server.close();
      rmSync(socket, { force: true });
      process.stdout.write('[host] stopped\n');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
