import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { CliError, EXIT } from '../context.js';
import { installClaudeIntegration, type InstallReport } from './install.js';
import { readJsonConfig } from './json-config.js';
import { hasMcpServer, MCP_SERVER_NAME } from './mcp-server-entry.js';
import { claudePaths } from './paths.js';

/** Turns on our channel: without it Claude Code loads the server but drops its notifications. */
export const CHANNEL_FLAGS = ['--dangerously-load-development-channels', `server:${MCP_SERVER_NAME}`] as const;

const INSTALL_HINT = 'install Claude Code: npm i -g @anthropic-ai/claude-code (or set CLAUDEMESH_CLAUDE_BIN to the claude executable)';

/** The `claude` to run: CLAUDEMESH_CLAUDE_BIN when set (it must then exist), else the first on PATH. */
export function findClaude(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['CLAUDEMESH_CLAUDE_BIN'];
  if (explicit) {
    const path = resolve(explicit);
    if (!isExecutableFile(path)) throw new CliError(`CLAUDEMESH_CLAUDE_BIN=${explicit} is not an executable file; ${INSTALL_HINT}`, EXIT.failure);
    return path;
  }
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue; // a relative PATH entry would depend on the cwd
    const candidate = join(dir, 'claude');
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new CliError(`Claude Code (claude) was not found on PATH; ${INSTALL_HINT}`, EXIT.failure);
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Our channel flags first, then the user's arguments exactly as given. */
export function claudeArgs(passthrough: readonly string[]): string[] {
  return [...CHANNEL_FLAGS, ...passthrough];
}

/**
 * Runs claude on this terminal and resolves with the exit code to pass on (128 + signal number
 * when it was killed, as a shell reports it). While it runs, Ctrl-C belongs to claude: we ignore
 * SIGINT (the terminal sends it to both) and forward SIGTERM/SIGHUP so claude can clean up.
 */
export function runClaude(bin: string, args: readonly string[]): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const handlers: Array<[NodeJS.Signals, () => void]> = [
      ['SIGINT', () => undefined],
      ['SIGTERM', forward('SIGTERM')],
      ['SIGHUP', forward('SIGHUP')],
    ];
    for (const [signal, handler] of handlers) process.on(signal, handler);
    const cleanup = () => handlers.forEach(([signal, handler]) => process.off(signal, handler));
    child.once('error', (error) => {
      cleanup();
      reject(new CliError(`cannot start ${bin}: ${error.message}; ${INSTALL_HINT}`));
    });
    child.once('exit', (code, signal) => {
      cleanup();
      resolvePromise(code ?? 128 + signalNumber(signal));
    });
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (osConstants.signals[signal] ?? 1) : 1;
}

/**
 * Runs the install step when ~/.claude.json has no claudemesh server yet, so a first `launch`
 * works on its own; returns its report, or null when the server was already registered.
 */
export function ensureMcpServerInstalled(env: NodeJS.ProcessEnv = process.env): InstallReport | null {
  const paths = claudePaths(env);
  const config = readJsonConfig(paths.claudeJson, 'claudemesh install');
  if (hasMcpServer(config.value, paths.claudeJson)) return null;
  return installClaudeIntegration({ env });
}
