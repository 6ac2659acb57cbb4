import { claudemeshHome } from '@claudemesh/core';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, print } from '../context.js';
import { CLI_BIN, DaemonClient, ensureDaemon } from '../daemon/client.js';
import { daemonPaths } from '../daemon/paths.js';

interface JsonOption {
  json?: boolean;
}

abstract class DaemonVerb extends CommandRunner {
  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}

async function connectIfRunning(home: string): Promise<DaemonClient | null> {
  try {
    return await DaemonClient.connect(daemonPaths(home).socket);
  } catch {
    return null;
  }
}

@SubCommand({ name: 'start', description: 'Start the daemon (verbs also start it on demand)' })
export class DaemonStartCommand extends DaemonVerb {
  async run(_args: string[], options: JsonOption): Promise<void> {
    const home = claudemeshHome();
    const client = await ensureDaemon(home, { ...process.env, CLAUDEMESH_DAEMON: 'on' });
    if (!client) throw new CliError(`the daemon did not start; see ${daemonPaths(home).log}`, EXIT.failure);
    const info = (await client.call('info')) as { pid: number; socket: string };
    client.close();
    print(options.json ?? false, info, `daemon running (pid ${info.pid}) on ${info.socket}`);
  }
}

@SubCommand({ name: 'stop', description: 'Stop the daemon (the outbox keeps anything unacked)' })
export class DaemonStopCommand extends DaemonVerb {
  async run(_args: string[], options: JsonOption): Promise<void> {
    const home = claudemeshHome();
    const client = await connectIfRunning(home);
    if (!client) {
      print(options.json ?? false, { running: false }, 'the daemon is not running');
      return;
    }
    await client.call('stop');
    client.close();
    const socket = daemonPaths(home).socket;
    for (const deadline = Date.now() + 5_000; existsSync(socket) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    print(options.json ?? false, { running: false, stopped: true }, 'daemon stopped');
  }
}

@SubCommand({ name: 'status', description: 'Whether the daemon runs, and each mesh’s connection, outbox and unread count' })
export class DaemonStatusCommand extends DaemonVerb {
  async run(_args: string[], options: JsonOption): Promise<void> {
    const client = await connectIfRunning(claudemeshHome());
    if (!client) {
      print(options.json ?? false, { running: false }, 'the daemon is not running (any verb starts it; or: claudemesh daemon start)');
      return;
    }
    const info = (await client.call('info')) as { pid: number; socket: string; meshes: Array<{ mesh_name: string; connected: boolean; state?: string; cause?: string; outbox: number; unread: number }> };
    client.close();
    const line = (m: (typeof info.meshes)[number]) => `  ${m.mesh_name.padEnd(20)} ${(m.state ?? (m.connected ? 'connected' : 'connecting')).padEnd(11)}  outbox ${m.outbox}  unread ${m.unread}${m.cause && !m.connected ? `\n    ${m.cause}` : ''}`;
    print(options.json ?? false, { running: true, ...info }, [`daemon running (pid ${info.pid}) on ${info.socket}`, ...info.meshes.map(line)].join('\n'));
  }
}

/** `daemon run`: the daemon in the foreground (what `start` and the service unit run). */
@SubCommand({ name: 'run', description: 'Run the daemon in the foreground' })
export class DaemonRunCommand extends CommandRunner {
  async run(): Promise<void> {
    const { runDaemon } = await import('../daemon/daemon.js');
    await runDaemon(claudemeshHome());
    await new Promise(() => undefined);
  }
}

/** Where the per-user service definition goes on this OS. */
export function serviceFile(): { kind: 'systemd' | 'launchd'; path: string } {
  const home = process.env['HOME'] ?? homedir();
  if (process.platform === 'darwin') return { kind: 'launchd', path: join(home, 'Library', 'LaunchAgents', 'dev.claudemesh.daemon.plist') };
  const config = process.env['XDG_CONFIG_HOME'] ?? join(home, '.config');
  return { kind: 'systemd', path: join(config, 'systemd', 'user', 'claudemesh-daemon.service') };
}

export function serviceDefinition(kind: 'systemd' | 'launchd', cmHome: string): string {
  const args = [process.execPath, CLI_BIN, 'daemon', 'run'];
  if (kind === 'systemd') {
    return [
      '[Unit]',
      'Description=claudemesh daemon (warm mesh connections, durable outbox and inbox)',
      'After=network-online.target',
      '',
      '[Service]',
      `ExecStart=${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`,
      `Environment=CLAUDEMESH_HOME=${cmHome}`,
      'Restart=on-failure',
      'RestartSec=2',
      '',
      '[Install]',
      'WantedBy=default.target',
      '',
    ].join('\n');
  }
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>dev.claudemesh.daemon</string>
  <key>ProgramArguments</key><array>${args.map((a) => `<string>${esc(a)}</string>`).join('')}</array>
  <key>EnvironmentVariables</key><dict><key>CLAUDEMESH_HOME</key><string>${esc(cmHome)}</string></dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
  <key>StandardErrorPath</key><string>${esc(daemonPaths(cmHome).log)}</string>
</dict>
</plist>
`;
}

@SubCommand({ name: 'install', description: 'Install the daemon as a per-user service (systemd user unit, or launchd agent on macOS)' })
export class DaemonInstallCommand extends DaemonVerb {
  async run(_args: string[], options: JsonOption): Promise<void> {
    const { kind, path } = serviceFile();
    const content = serviceDefinition(kind, claudemeshHome());
    const unchanged = existsSync(path) && readFileSync(path, 'utf8') === content;
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content, { mode: 0o644 });
    const next = kind === 'systemd' ? 'systemctl --user daemon-reload && systemctl --user enable --now claudemesh-daemon' : `launchctl load -w ${path}`;
    print(options.json ?? false, { kind, path, changed: !unchanged, next }, `${unchanged ? 'unchanged' : 'wrote'} ${path}\nnext: ${next}`);
  }
}

@SubCommand({ name: 'uninstall', description: 'Remove the per-user service definition' })
export class DaemonUninstallCommand extends DaemonVerb {
  async run(_args: string[], options: JsonOption): Promise<void> {
    const { kind, path } = serviceFile();
    const existed = existsSync(path);
    rmSync(path, { force: true });
    const next = kind === 'systemd' ? 'systemctl --user disable --now claudemesh-daemon; systemctl --user daemon-reload' : `launchctl unload ${path}`;
    print(options.json ?? false, { kind, path, removed: existed }, existed ? `removed ${path}\nif it was enabled: ${next}` : `no service definition at ${path}`);
  }
}

@Command({
  name: 'daemon',
  description: 'The per-user daemon: warm connections, durable outbox and inbox',
  subCommands: [DaemonStartCommand, DaemonStopCommand, DaemonStatusCommand, DaemonRunCommand, DaemonInstallCommand, DaemonUninstallCommand],
})
export class DaemonCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
