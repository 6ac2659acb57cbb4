#!/usr/bin/env node
import 'reflect-metadata';
import { ensureAdminToken } from './bootstrap/admin-token.js';
import { bootstrapFirstMesh } from './bootstrap/first-mesh.js';
import { bootstrapLines } from './bootstrap/start-banner.js';
import { loadBrokerConfig } from './config/broker.config.js';
import { MIGRATIONS_DIR, PortInUseError, startBroker } from './server.js';
import type { WebApp } from './web/web-app.js';
import { WEB_APP } from './web/web.controller.js';

async function main(): Promise<void> {
  const config = loadBrokerConfig(process.env, MIGRATIONS_DIR);
  config.adminToken = ensureAdminToken(config.dataDir, config.adminToken);
  const broker = await startBroker(config);
  let stopping = false;
  // Closing ends the sessions, then waits for the group-commit writers to commit what they hold:
  // every send accepted is stored (and acked, or resent by its client under the same id).
  const shutdown = (signal: string) => {
    if (stopping) {
      process.stdout.write(`claudemesh broker: ${signal} again, exiting now (what was acknowledged is stored)\n`);
      process.exit(1);
    }
    stopping = true;
    process.stdout.write(`claudemesh broker stopping (${signal}): closing connections, finishing writes…\n`);
    broker.close().then(
      () => {
        process.stdout.write(`claudemesh broker stopped (${signal}); nothing queued was lost\n`);
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`claudemesh broker stopped (${signal}) with an error while closing: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  const db = broker.databaseKind === 'embedded' ? `embedded PGlite in ${config.dataDir}/pgdata` : 'Postgres (DATABASE_URL)';
  const lines = [`claudemesh broker listening on ${broker.url} (WebSocket ${broker.wsUrl}), database: ${db}`];
  const webUrl = broker.app.get<WebApp | null>(WEB_APP) ? broker.url : null;
  if (config.bootstrapMesh) lines.push(...bootstrapLines(await bootstrapFirstMesh(broker, config.bootstrapMesh, { v1Link: config.bootstrapV1Link }), config.home, webUrl));
  else if (webUrl) lines.push(`web app: ${webUrl}/ (members sign in with: claudemesh web)`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  // A port taken between the check and the bind still gets the operator's fix.
  const reason = (error as { code?: unknown }).code === 'EADDRINUSE' ? new PortInUseError(Number(process.env['PORT'] ?? 7900), process.env['HOST'] ?? '127.0.0.1').message : error instanceof Error ? error.message : String(error);
  process.stderr.write(`claudemesh broker failed to start: ${reason}\n`);
  process.exit(1);
});
