import { CommandRunner, SubCommand } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@SubCommand({ name: 'share', description: '(in progress)' })
export class MeshShareCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh share is not available yet');
  }
}
