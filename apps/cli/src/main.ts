#!/usr/bin/env node
import 'reflect-metadata';
import { CommandFactory } from 'nest-commander';
import { CliModule } from './cli.module.js';
import { CliError, EXIT } from './context.js';

async function main(): Promise<void> {
  await CommandFactory.run(CliModule, {
    logger: false,
    errorHandler: (error) => {
      const exitCode = error instanceof CliError ? error.exitCode : EXIT.failure;
      process.stderr.write(`claudemesh: ${error.message}\n`);
      process.exit(exitCode);
    },
  });
}

main().catch((error: unknown) => {
  const exitCode = error instanceof CliError ? error.exitCode : EXIT.failure;
  process.stderr.write(`claudemesh: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(exitCode);
});
