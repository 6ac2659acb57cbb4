import 'reflect-metadata';
import { CommandFactory } from 'nest-commander';
import { ProtocolError } from '@claudemesh/core';
import { CliModule } from './cli.module.js';
import { CliError, EXIT } from './context.js';
import { exitCodeOf } from './exit-codes.js';
import { errorLine } from './format.js';
import { applyUsageRules, CommandTree } from './usage-rules.js';

/**
 * The nest-commander command tree: every verb the fast path and the daemon do not answer. Kept in
 * a module of its own so the bundle can ship it as one CommonJS file that loads from V8's code
 * cache (tree-loader.ts, build-bundle.mjs).
 */
export async function runCommandTree(version: string): Promise<void> {
  /** Every failure ends here: one line on stderr (plus what to run next), a documented exit code. */
  const fail = (error: unknown): never => {
    const exitCode = error instanceof CliError ? error.exitCode : error instanceof ProtocolError ? exitCodeOf(error.code) : EXIT.failure;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(errorLine(message, error instanceof ProtocolError ? error.code : undefined));
    process.exit(exitCode);
  };

  const app = await CommandFactory.createWithoutRunning(CliModule, { logger: false, version, serviceErrorHandler: fail });
  // One rule for usage errors over the whole tree (usage-rules.ts): exit 2, printed once, with "did you mean".
  applyUsageRules(
    app.get(CommandTree).root,
    ({ message, command }) => fail(new CliError(`${message}\n  next: ${command} --help`, EXIT.usage)),
    (code) => process.exit(code),
  );
  try {
    await CommandFactory.runApplication(app);
  } finally {
    await app.close();
  }
}
