import { Command, CommandRunner } from 'nest-commander';
import { formatInstallReport } from '../claude/install.js';
import { claudeArgs, ensureMcpServerInstalled, findClaude, runClaude } from '../claude/launch.js';

type Commander = Parameters<CommandRunner['setCommand']>[0];

/**
 * `claude` with our channel enabled. Every argument after `launch` is claude's, unknown flags and
 * `-h` included: this command has no options of its own (its help is `claudemesh help launch`).
 */
@Command({
  name: 'launch',
  arguments: '[claude-args...]',
  description: 'Start Claude Code with the claudemesh channel (claude --dangerously-load-development-channels server:claudemesh …)',
  allowUnknownOptions: true,
})
export class LaunchCommand extends CommandRunner {
  override setCommand(command: Commander): this {
    command.helpOption(false);
    return super.setCommand(command);
  }

  async run(args: string[]): Promise<void> {
    const bin = findClaude();
    const installed = ensureMcpServerInstalled();
    if (installed) process.stderr.write(`claudemesh: not registered with Claude Code yet; installing first\n${formatInstallReport(installed)}\n`);
    process.exit(await runClaude(bin, claudeArgs(args)));
  }
}
