import { CommandRunner, Command } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'restore', description: '(in progress)' })
export class RestoreCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh restore is not available yet');
  }
}
