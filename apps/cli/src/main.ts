#!/usr/bin/env node
import { readFileSync } from 'node:fs';

/** Next steps for the broker's error codes, so every failure says what to run. */
const HINTS: Record<string, string> = {
  E_UNKNOWN_TARGET: 'see who is there: claudemesh peer list',
  E_NOT_MEMBER: 'your membership was revoked or never existed; ask for a new invite and run claudemesh join',
  E_FORBIDDEN: 'you lack the right for this in the mesh; ask its owner',
  E_UNAVAILABLE: 'the broker cannot store messages right now; retry in a moment',
  E_RATE_LIMITED: 'slow down and retry',
  E_TOO_LARGE: 'send less (split the message)',
  E_INVITE_INVALID: 'the link is damaged or forged; ask the mesh owner for a fresh one',
  E_INVITE_EXPIRED: 'ask for a fresh invite',
  E_INVITE_REVOKED: 'ask for a fresh invite',
  E_INVITE_EXHAUSTED: 'ask for a fresh invite',
};

function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  // The one verb that must be instant answers before Nest is even loaded.
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(`${version()}\n`);
    return;
  }
  // The daemon is started by verbs on demand: it should not pay for the command tree either.
  if (args[0] === 'daemon' && args[1] === 'run' && args.length === 2) {
    const { runDaemon } = await import('./daemon/daemon.js');
    await runDaemon();
    return;
  }
  await import('reflect-metadata');
  const [{ CommandFactory }, { CliModule }, { CliError, EXIT }, { ProtocolError }] = await Promise.all([
    import('nest-commander'),
    import('./cli.module.js'),
    import('./context.js'),
    import('@claudemesh/core'),
  ]);

  /** Every failure ends here: one line on stderr (plus what to run next), a documented exit code. */
  const fail = (error: unknown): never => {
    const exitCode = error instanceof CliError ? error.exitCode : EXIT.failure;
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof ProtocolError ? ` [${error.code}]` : '';
    const hint = error instanceof ProtocolError && HINTS[error.code] ? `\n  next: ${HINTS[error.code]}` : '';
    process.stderr.write(`claudemesh: ${message}${code}${hint}\n`);
    process.exit(exitCode);
  };

  await CommandFactory.run(CliModule, {
    logger: false,
    version: version(),
    errorHandler: (error) => {
      // commander reports --help/--version as "errors" with exit code 0
      const exitCode = (error as { exitCode?: number }).exitCode;
      if (exitCode === 0) process.exit(0);
      fail(new CliError(`${error.message.replace(/^error: /, '')}; see claudemesh --help`, EXIT.usage));
    },
    serviceErrorHandler: fail,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`claudemesh: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
