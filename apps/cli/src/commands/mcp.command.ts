import { Command, CommandRunner } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'mcp', description: '(in progress)' })
export class McpCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh mcp is not available yet');
  }
}
