import { Command, CommandRunner } from 'nest-commander';
import { CliError } from '../context.js';

// Placeholder registered in cli.module.ts; the implementation replaces this file.
@Command({ name: 'url-handler', description: '(in progress)' })
export class UrlHandlerCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new CliError('claudemesh url-handler is not available yet');
  }
}
