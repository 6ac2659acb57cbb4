#!/usr/bin/env node
import 'reflect-metadata';
import { ProtocolError } from '@claudemesh/core';
import { CommandFactory } from 'nest-commander';
import { CliModule } from './cli.module.js';
import { CliError, EXIT } from './context.js';

/** Every failure ends here: one line on stderr, a documented exit code. */
function fail(error: unknown): never {
  const exitCode = error instanceof CliError ? error.exitCode : EXIT.failure;
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof ProtocolError ? ` [${error.code}]` : '';
  process.stderr.write(`claudemesh: ${message}${code}\n`);
  process.exit(exitCode);
}

async function main(): Promise<void> {
  await CommandFactory.run(CliModule, {
    logger: false,
    errorHandler: (error) => {
      // commander reports --help/--version as "errors" with exit code 0
      const exitCode = (error as { exitCode?: number }).exitCode;
      if (exitCode === 0) process.exit(0);
      fail(new CliError(error.message, EXIT.usage));
    },
    serviceErrorHandler: fail,
  });
}

main().catch(fail);
