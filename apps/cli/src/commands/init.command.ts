import { Command, CommandRunner } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'init', description: '(in progress)' })
export class InitCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh init is not available yet');
  }
}
