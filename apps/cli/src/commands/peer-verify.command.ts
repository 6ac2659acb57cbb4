import { CommandRunner, SubCommand } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@SubCommand({ name: 'verify', description: '(in progress)' })
export class PeerVerifyCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh verify is not available yet');
  }
}
