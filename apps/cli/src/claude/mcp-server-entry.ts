import { CliError } from '../context.js';
import { cliBinPath } from './cli-location.js';
import { isJsonObject, type JsonObject } from './json-config.js';
import { tildify } from './paths.js';

/** The name Claude Code knows our server by; `launch` enables its channel as `server:claudemesh`. */
export const MCP_SERVER_NAME = 'claudemesh';

/** Exactly what `claude mcp add -s user claudemesh -- node <bin> mcp` would write. */
export interface McpServerEntry {
  type: 'stdio';
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * Our entry: this node and this CLI's bin by absolute path (Claude Code's PATH may differ from the
 * shell's), and CLAUDEMESH_HOME when one is set, so the server sees the same joined meshes.
 */
export function ourMcpServerEntry(env: NodeJS.ProcessEnv = process.env): McpServerEntry {
  const home = env['CLAUDEMESH_HOME'];
  return { type: 'stdio', command: process.execPath, args: [cliBinPath(), 'mcp'], env: home ? { CLAUDEMESH_HOME: home } : {} };
}

export type McpInstallAction = 'added' | 'updated' | 'unchanged';
export type McpRemoveAction = 'removed' | 'absent';

/** Returns a copy of `config` with our server set; every other key keeps its value and position. */
export function withMcpServer(config: JsonObject, entry: McpServerEntry, path: string): { config: JsonObject; action: McpInstallAction } {
  const servers = mcpServersOf(config, path);
  const existing = servers?.[MCP_SERVER_NAME];
  const action: McpInstallAction = existing === undefined ? 'added' : JSON.stringify(existing) === JSON.stringify(entry) ? 'unchanged' : 'updated';
  return { config: { ...config, mcpServers: { ...servers, [MCP_SERVER_NAME]: entry } }, action };
}

/**
 * Returns a copy of `config` without our server. An `mcpServers` left empty is dropped: Claude
 * Code reads a missing key as "no servers", and a config we first created round-trips to itself.
 */
export function withoutMcpServer(config: JsonObject, path: string): { config: JsonObject; action: McpRemoveAction } {
  const servers = mcpServersOf(config, path);
  if (!servers || !(MCP_SERVER_NAME in servers)) return { config, action: 'absent' };
  const { [MCP_SERVER_NAME]: _ours, ...others } = servers;
  const { mcpServers: _all, ...rest } = config;
  return { config: Object.keys(others).length > 0 ? { ...config, mcpServers: others } : rest, action: 'removed' };
}

export function hasMcpServer(config: JsonObject, path: string): boolean {
  return mcpServersOf(config, path)?.[MCP_SERVER_NAME] !== undefined;
}

function mcpServersOf(config: JsonObject, path: string): JsonObject | undefined {
  const servers = config['mcpServers'];
  if (servers === undefined) return undefined;
  if (!isJsonObject(servers)) throw new CliError(`"mcpServers" in ${tildify(path)} is not an object; nothing was changed. Fix it (or run: claude mcp list), then retry`);
  return servers;
}
