import { Command, CommandRunner } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'launch', description: '(in progress)' })
export class LaunchCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh launch is not available yet');
  }
}
