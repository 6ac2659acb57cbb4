#!/usr/bin/env node
import { readFileSync } from 'node:fs';

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
  // Hot verbs through a running daemon: no Nest, no zod, no libsodium.
  const { tryFastPath } = await import('./fast/fast-path.js');
  if (await tryFastPath(args)) return;
  if (process.env['CLAUDEMESH_FAST'] === 'only') {
    // A diagnostic (and the tests' proof that a verb takes the fast path).
    process.stderr.write('claudemesh: not answered by the fast path (is the daemon running? is every flag one it knows?)\n');
    process.exit(99);
  }
  // The daemon is started by verbs on demand: it should not pay for the command tree either.
  if (args[0] === 'daemon' && args[1] === 'run' && args.length === 2) {
    const { runDaemon } = await import('./daemon/daemon.js');
    await runDaemon();
    return;
  }
  // `claudemesh <invite link>` joins and launches Claude Code; so does a claudemesh:// link (what
  // the OS runs once `claudemesh url-handler install` registered the scheme). Same as LINK_PATTERN.
  if (args[0] !== undefined && /^(ic:\/\/join\/|claudemesh:\/\/|https?:\/\/[^\s]+\/(join#|i\/|e\/))/i.test(args[0])) process.argv.splice(2, 0, 'open');
  // The command tree: from the bundle's CommonJS copy with V8's code cache when there is one (a
  // third less start-up work for every verb that gets here; tree-loader.ts), else as a module.
  const { loadCommandTree } = await import('./tree-loader.js');
  await (await loadCommandTree()).runCommandTree(version());
}

main().catch((error: unknown) => {
  process.stderr.write(`claudemesh: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
