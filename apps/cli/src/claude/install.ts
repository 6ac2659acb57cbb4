import { readJsonConfig, saveJsonConfig } from './json-config.js';
import { ourMcpServerEntry, withMcpServer, type McpInstallAction, type McpServerEntry, MCP_SERVER_NAME } from './mcp-server-entry.js';
import { claudePaths, tildify } from './paths.js';
import { installSkill, type SkillInstallAction } from './skill-files.js';
import { installLauncher, launcherDir, pathLine, runsThisCli, type LauncherReport } from './launcher.js';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { bundledSkillPath } from './cli-location.js';
import { ourStatusLineEntry, withStatusLine, type StatusLineInstallAction } from './status-line-entry.js';

export interface InstallOptions {
  /** The SKILL.md to install, generated from the live command tree (skill-text.ts); default the bundled copy. */
  skill?: string;
  statusLine?: boolean;
  force?: boolean;
  /** Only the `claudemesh` command on PATH; Claude Code's files are not touched. */
  pathOnly?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** What `install` did, file by file; the `--json` output. */
export interface InstallReport {
  launcher: LauncherReport;
  mcp_server?: { file: string; action: McpInstallAction; entry: McpServerEntry };
  skill?: { file: string; action: SkillInstallAction };
  status_line?: { file: string; action: StatusLineInstallAction; command: string; previous?: string };
}

const RETRY = 'claudemesh install';

/**
 * Registers our MCP server and skill (and optionally status line) for Claude Code. Every file is
 * read and validated before any is written, so a malformed one leaves all of them untouched.
 */
export function installClaudeIntegration(options: InstallOptions = {}): InstallReport {
  const env = options.env ?? process.env;
  if (options.pathOnly) return { launcher: installLauncher(env) };
  const paths = claudePaths(env);
  const claudeJson = readJsonConfig(paths.claudeJson, RETRY);
  const settings = options.statusLine ? readJsonConfig(paths.settingsJson, `${RETRY} --status-line`) : null;

  const entry = ourMcpServerEntry(env);
  const mcp = withMcpServer(claudeJson.value, entry, paths.claudeJson);
  const statusEntry = ourStatusLineEntry(env);
  const status = settings ? withStatusLine(settings.value, statusEntry, options.force ?? false) : null;

  saveJsonConfig(claudeJson, mcp.config);
  if (settings && status) saveJsonConfig(settings, status.settings);
  const skill = installSkill(paths, options.skill ?? readFileSync(bundledSkillPath(), 'utf8'));
  const launcher = installLauncher(env);

  return {
    launcher,
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
  const lines: string[] = [];
  const m = report.mcp_server;
  if (m) {
    const run = [m.entry.command, ...m.entry.args].join(' ');
    lines.push(
      m.action === 'unchanged'
        ? `MCP server "${MCP_SERVER_NAME}" already registered in ${t(m.file)}`
        : `MCP server "${MCP_SERVER_NAME}" ${m.action === 'added' ? 'added to' : 'updated in'} ${t(m.file)} (runs: ${run})`,
    );
  }
  if (report.skill) lines.push(report.skill.action === 'unchanged' ? `skill up to date: ${t(report.skill.file)}` : `skill ${report.skill.action}: ${t(report.skill.file)}`);
  const s = report.status_line;
  if (s) lines.push(statusLineSentence(s, t(s.file)));
  lines.push(...launcherSentences(report.launcher, env));
  return lines.join('\n');
}

/** Where `claudemesh` comes from now, and the one line to add when its directory is not on PATH. */
export function launcherSentences(l: LauncherReport, env: NodeJS.ProcessEnv = process.env): string[] {
  const t = (p: string) => tildify(p, env);
  const out: string[] = [];
  switch (l.action) {
    case 'added':
    case 'updated':
      out.push(`claudemesh command ${l.action}: ${t(l.file)}, a script running ${l.runs} (after moving claudemesh or node, run claudemesh install again)`);
      break;
    case 'unchanged':
      out.push(`claudemesh command up to date: ${t(l.file)}`);
      break;
    case 'not-needed':
      out.push(`claudemesh on PATH already runs this CLI (${t(l.on_path ?? l.file)}); no launcher written`);
      return out;
    case 'kept-foreign':
      out.push(`left alone: ${t(l.file)} exists and was not written by claudemesh install${l.on_path ? `; claudemesh on PATH is ${t(l.on_path)}` : ''}`);
      return out;
  }
  const dir = launcherDir(env);
  if (!l.dir_on_path) out.push(`${t(dir)} is not on your PATH, so a new shell will not find claudemesh; add it: ${pathLine(dir, env)}`);
  else if (l.on_path && l.on_path !== l.file && !runsThisCli(l.on_path)) out.push(`note: ${t(l.on_path)} comes first on PATH and is another claudemesh; put ${t(dirname(l.file))} before ${t(dirname(l.on_path))} in PATH, or remove it`);
  return out;
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
