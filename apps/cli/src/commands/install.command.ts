import { Command, CommandRunner } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'install', description: '(in progress)' })
export class InstallCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh install is not available yet');
  }
}
