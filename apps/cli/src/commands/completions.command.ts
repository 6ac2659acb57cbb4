import { CommandRunner, Command } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'completions', description: '(in progress)' })
export class CompletionsCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh completions is not available yet');
  }
}
