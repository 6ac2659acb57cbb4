import { Command, CommandRunner } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'uninstall', description: '(in progress)' })
export class UninstallCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh uninstall is not available yet');
  }
}
