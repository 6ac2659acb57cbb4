import { CommandRunner, Command } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'backup', description: '(in progress)' })
export class BackupCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh backup is not available yet');
  }
}
