import { Command, CommandRunner, Option } from 'nest-commander';
import { formatInstallReport, installClaudeIntegration } from '../claude/install.js';
import { print } from '../context.js';

interface InstallOptions {
  statusLine?: boolean;
  force?: boolean;
  json?: boolean;
}

/** Registers claudemesh with Claude Code: the MCP server, the skill and, on request, the status line. */
@Command({ name: 'install', description: 'Register claudemesh with Claude Code (MCP server in ~/.claude.json, skill, optional status line)' })
export class InstallCommand extends CommandRunner {
  async run(_args: string[], options: InstallOptions): Promise<void> {
    const report = installClaudeIntegration({ statusLine: options.statusLine ?? false, force: options.force ?? false });
    print(options.json ?? false, report, `${formatInstallReport(report)}\nnext: claudemesh launch   (Claude Code with the claudemesh channel enabled)`);
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
