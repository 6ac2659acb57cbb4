import { readJsonConfig, saveJsonConfig } from './json-config.js';
import { ourMcpServerEntry, withMcpServer, type McpInstallAction, type McpServerEntry, MCP_SERVER_NAME } from './mcp-server-entry.js';
import { claudePaths, tildify } from './paths.js';
import { installSkill, type SkillInstallAction } from './skill-files.js';
import { ourStatusLineEntry, withStatusLine, type StatusLineInstallAction } from './status-line-entry.js';

export interface InstallOptions {
  statusLine?: boolean;
  force?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** What `install` did, file by file; the `--json` output. */
export interface InstallReport {
  mcp_server: { file: string; action: McpInstallAction; entry: McpServerEntry };
  skill: { file: string; action: SkillInstallAction };
  status_line?: { file: string; action: StatusLineInstallAction; command: string; previous?: string };
}

const RETRY = 'claudemesh install';

/**
 * Registers our MCP server and skill (and optionally status line) for Claude Code. Every file is
 * read and validated before any is written, so a malformed one leaves all of them untouched.
 */
export function installClaudeIntegration(options: InstallOptions = {}): InstallReport {
  const env = options.env ?? process.env;
  const paths = claudePaths(env);
  const claudeJson = readJsonConfig(paths.claudeJson, RETRY);
  const settings = options.statusLine ? readJsonConfig(paths.settingsJson, `${RETRY} --status-line`) : null;

  const entry = ourMcpServerEntry(env);
  const mcp = withMcpServer(claudeJson.value, entry, paths.claudeJson);
  const statusEntry = ourStatusLineEntry(env);
  const status = settings ? withStatusLine(settings.value, statusEntry, options.force ?? false) : null;

  saveJsonConfig(claudeJson, mcp.config);
  if (settings && status) saveJsonConfig(settings, status.settings);
  const skill = installSkill(paths);

  return {
    mcp_server: { file: paths.claudeJson, action: mcp.action, entry },
    skill: { file: paths.skillFile, action: skill },
    ...(status
      ? { status_line: { file: paths.settingsJson, action: status.action, command: statusEntry.command, ...(status.previous !== undefined ? { previous: status.previous } : {}) } }
      : {}),
  };
}

/** One line per file, saying what changed and, where the user has to act, what to run. */
export function formatInstallReport(report: InstallReport, env: NodeJS.ProcessEnv = process.env): string {
  const t = (p: string) => tildify(p, env);
  const m = report.mcp_server;
  const run = [m.entry.command, ...m.entry.args].join(' ');
  const lines = [
    m.action === 'unchanged'
      ? `MCP server "${MCP_SERVER_NAME}" already registered in ${t(m.file)}`
      : `MCP server "${MCP_SERVER_NAME}" ${m.action === 'added' ? 'added to' : 'updated in'} ${t(m.file)} (runs: ${run})`,
    report.skill.action === 'unchanged' ? `skill up to date: ${t(report.skill.file)}` : `skill ${report.skill.action}: ${t(report.skill.file)}`,
  ];
  const s = report.status_line;
  if (s) lines.push(statusLineSentence(s, t(s.file)));
  return lines.join('\n');
}

function statusLineSentence(s: NonNullable<InstallReport['status_line']>, file: string): string {
  switch (s.action) {
    case 'set':
    case 'updated':
      return `status line ${s.action} in ${file}`;
    case 'unchanged':
      return `status line already set in ${file}`;
    case 'kept-foreign':
      return `status line left alone: ${file} already runs "${s.previous}"; to replace it run: claudemesh install --status-line --force`;
    case 'replaced-foreign':
      return `status line replaced in ${file} (it was: "${s.previous}")`;
  }
}
