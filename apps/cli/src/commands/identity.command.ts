import { Command, CommandRunner } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'identity', description: '(in progress)' })
export class IdentityCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh identity is not available yet');
  }
}
