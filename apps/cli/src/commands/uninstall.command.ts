import { Command, CommandRunner, Option } from 'nest-commander';
import { formatUninstallReport, uninstallClaudeIntegration } from '../claude/uninstall.js';
import { print } from '../context.js';

interface UninstallOptions {
  json?: boolean;
}

/** Removes from Claude Code's config exactly what `install` added, and nothing else. */
@Command({ name: 'uninstall', description: 'Remove the claudemesh MCP server, skill and status line from Claude Code' })
export class UninstallCommand extends CommandRunner {
  async run(_args: string[], options: UninstallOptions): Promise<void> {
    const report = uninstallClaudeIntegration();
    print(options.json ?? false, report, formatUninstallReport(report));
  }

  @Option({ flags: '--json', description: 'machine-readable summary' })
  parseJson(): boolean {
    return true;
  }
}
