import { Command, CommandRunner } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'upgrade', description: '(in progress)' })
export class UpgradeCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh upgrade is not available yet');
  }
}
