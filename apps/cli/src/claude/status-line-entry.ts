import { cliBinPath } from './cli-location.js';
import { isJsonObject, type JsonObject } from './json-config.js';
import { shellQuote } from './shell-quote.js';

/** `statusLine` as Claude Code reads it from ~/.claude/settings.json. */
export interface StatusLineEntry {
  type: 'command';
  command: string;
}

/**
 * `<node> <bin> status-line`, prefixed with CLAUDEMESH_HOME when one is set: unlike an MCP
 * server entry, a status line has no env field, so the shell command carries it.
 */
export function ourStatusLineEntry(env: NodeJS.ProcessEnv = process.env): StatusLineEntry {
  const home = env['CLAUDEMESH_HOME'];
  const run = `${shellQuote(process.execPath)} ${shellQuote(cliBinPath())} status-line`;
  return { type: 'command', command: home ? `CLAUDEMESH_HOME=${shellQuote(home)} ${run}` : run };
}

/**
 * A status line is ours when its command runs `claudemesh status-line` in any spelling (our bin by
 * path, a global `claudemesh`, npx): those are the only ones we may replace or remove unasked.
 */
export function isOurStatusLine(value: unknown): boolean {
  return isJsonObject(value) && typeof value['command'] === 'string' && /(^|[\s/'"])claudemesh(\.js)?['"]?\s+status-line(\s|$)/.test(value['command']);
}

export type StatusLineInstallAction = 'set' | 'updated' | 'unchanged' | 'kept-foreign' | 'replaced-foreign';
export type StatusLineRemoveAction = 'removed' | 'absent' | 'kept-foreign';

export interface StatusLineChange {
  settings: JsonObject;
  action: StatusLineInstallAction;
  /** The command of a foreign status line we kept or replaced, so the user can see or restore it. */
  previous?: string;
}

/** Returns settings with our status line; a foreign one is kept unless `force`. */
export function withStatusLine(settings: JsonObject, entry: StatusLineEntry, force: boolean): StatusLineChange {
  const existing = settings['statusLine'];
  if (existing === undefined) return { settings: { ...settings, statusLine: entry }, action: 'set' };
  if (isOurStatusLine(existing)) {
    // keep fields the user added to our entry (Claude Code also reads e.g. `padding`)
    const refreshed = { ...existing, ...entry };
    return { settings: { ...settings, statusLine: refreshed }, action: JSON.stringify(existing) === JSON.stringify(refreshed) ? 'unchanged' : 'updated' };
  }
  const previous = describe(existing);
  return force ? { settings: { ...settings, statusLine: entry }, action: 'replaced-foreign', previous } : { settings, action: 'kept-foreign', previous };
}

/** Returns settings without our status line; a foreign one stays. */
export function withoutStatusLine(settings: JsonObject): { settings: JsonObject; action: StatusLineRemoveAction } {
  const existing = settings['statusLine'];
  if (existing === undefined) return { settings, action: 'absent' };
  if (!isOurStatusLine(existing)) return { settings, action: 'kept-foreign' };
  const { statusLine: _ours, ...rest } = settings;
  return { settings: rest, action: 'removed' };
}

function describe(value: unknown): string {
  return isJsonObject(value) && typeof value['command'] === 'string' ? value['command'] : JSON.stringify(value);
}
