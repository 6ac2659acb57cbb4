import { Command, CommandRunner, Option } from 'nest-commander';
import { formatInstallReport, installClaudeIntegration } from '../claude/install.js';
import { print } from '../context.js';
import { skillMarkdown } from '../claude/skill-text.js';
import { fromCommander } from '../completions/index.js';

interface InstallOptions {
  statusLine?: boolean;
  pathOnly?: boolean;
  force?: boolean;
  json?: boolean;
}

/**
 * Puts `claudemesh` on PATH (a launcher, unless PATH already runs this CLI) and registers claudemesh
 * with Claude Code: the MCP server, the skill and, on request, the status line.
 */
@Command({ name: 'install', description: 'Put claudemesh on PATH (~/.local/bin) and register it with Claude Code (MCP server in ~/.claude.json, skill, optional status line)' })
export class InstallCommand extends CommandRunner {
  async run(_args: string[], options: InstallOptions): Promise<void> {
    const root = this.command.parent;
    const report = installClaudeIntegration({
      statusLine: options.statusLine ?? false,
      force: options.force ?? false,
      pathOnly: options.pathOnly ?? false,
      // The skill as this very CLI's command tree says, so it cannot teach what this version lacks.
      ...(root ? { skill: skillMarkdown(fromCommander(root)) } : {}),
    });
    const next = options.pathOnly ? "next: claudemesh join '<invite link>' · claudemesh --help" : 'next: claudemesh launch   (Claude Code with the claudemesh channel enabled)';
    print(options.json ?? false, report, `${formatInstallReport(report)}\n${next}`);
  }

  @Option({ flags: '--path-only', description: 'only put the claudemesh command on PATH (~/.local/bin/claudemesh); leave Claude Code alone' })
  parsePathOnly(): boolean {
    return true;
  }

  @Option({ flags: '--status-line', description: 'also show mesh presence in the Claude Code status line (~/.claude/settings.json)' })
  parseStatusLine(): boolean {
    return true;
  }

  @Option({ flags: '--force', description: 'with --status-line: replace a status line that is not ours' })
  parseForce(): boolean {
    return true;
  }

  @Option({ flags: '--json', description: 'machine-readable summary' })
  parseJson(): boolean {
    return true;
  }
}
