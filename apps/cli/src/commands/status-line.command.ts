import { Command, CommandRunner } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'status-line', description: '(in progress)' })
export class StatusLineCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh status-line is not available yet');
  }
}
