import { readJsonConfig, saveJsonConfig } from './json-config.js';
import { MCP_SERVER_NAME, withoutMcpServer, type McpRemoveAction } from './mcp-server-entry.js';
import { claudePaths, tildify } from './paths.js';
import { uninstallSkill, type SkillRemoveAction } from './skill-files.js';
import { withoutStatusLine, type StatusLineRemoveAction } from './status-line-entry.js';
import { uninstallLauncher, type LauncherRemoveAction } from './launcher.js';

/** What `uninstall` did, file by file; the `--json` output. */
export interface UninstallReport {
  mcp_server: { file: string; action: McpRemoveAction };
  skill: { dir: string; action: SkillRemoveAction };
  status_line: { file: string; action: StatusLineRemoveAction };
  launcher: { file: string; action: LauncherRemoveAction };
}

const RETRY = 'claudemesh uninstall';

/**
 * Removes what `install` added and nothing else. A missing file is left missing (never created
 * just to hold nothing); both configs are validated before either is written.
 */
export function uninstallClaudeIntegration(env: NodeJS.ProcessEnv = process.env): UninstallReport {
  const paths = claudePaths(env);
  const claudeJson = readJsonConfig(paths.claudeJson, RETRY);
  const settings = readJsonConfig(paths.settingsJson, RETRY);

  const mcp = withoutMcpServer(claudeJson.value, paths.claudeJson);
  const status = withoutStatusLine(settings.value);

  if (mcp.action === 'removed') saveJsonConfig(claudeJson, mcp.config);
  if (status.action === 'removed') saveJsonConfig(settings, status.settings);
  const skill = uninstallSkill(paths);
  const launcher = uninstallLauncher(env);

  return {
    launcher,
    mcp_server: { file: paths.claudeJson, action: mcp.action },
    skill: { dir: paths.skillDir, action: skill },
    status_line: { file: paths.settingsJson, action: status.action },
  };
}

export function formatUninstallReport(report: UninstallReport, env: NodeJS.ProcessEnv = process.env): string {
  const t = (p: string) => tildify(p, env);
  const lines = [
    report.mcp_server.action === 'removed'
      ? `MCP server "${MCP_SERVER_NAME}" removed from ${t(report.mcp_server.file)}`
      : `MCP server "${MCP_SERVER_NAME}" was not registered in ${t(report.mcp_server.file)}`,
    {
      removed: `skill removed: ${t(report.skill.dir)}`,
      absent: `skill not installed (${t(report.skill.dir)})`,
      'kept-foreign': `skill directory kept: ${t(report.skill.dir)} holds files that are not ours; delete it yourself if you want it gone`,
    }[report.skill.action],
  ];
  if (report.status_line.action === 'removed') lines.push(`status line removed from ${t(report.status_line.file)}`);
  if (report.status_line.action === 'kept-foreign') lines.push(`status line in ${t(report.status_line.file)} is not ours; left alone`);
  if (report.launcher.action === 'removed') lines.push(`claudemesh command removed: ${t(report.launcher.file)}`);
  if (report.launcher.action === 'kept-foreign') lines.push(`${t(report.launcher.file)} was not written by claudemesh install; left alone`);
  return lines.join('\n');
}
