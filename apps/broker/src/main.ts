#!/usr/bin/env node
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ensureAdminToken } from './bootstrap/admin-token.js';
import { bootstrapFirstMesh } from './bootstrap/first-mesh.js';
import { bootstrapLines } from './bootstrap/start-banner.js';
import { loadBrokerConfig } from './config/broker.config.js';
import { MIGRATIONS_DIR, startBroker } from './server.js';

async function main(): Promise<void> {
  const config = loadBrokerConfig(process.env, MIGRATIONS_DIR);
  config.adminToken = ensureAdminToken(config.dataDir, config.adminToken);
  const broker = await startBroker(config);
  const shutdown = (signal: string) => {
    Logger.log(`${signal}: closing`, 'Broker');
    broker.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  const db = broker.databaseKind === 'embedded' ? `embedded PGlite in ${config.dataDir}/pgdata` : 'Postgres (DATABASE_URL)';
  const lines = [`claudemesh broker listening on ${broker.url} (WebSocket ${broker.wsUrl}), database: ${db}`];
  if (config.bootstrapMesh) lines.push(...bootstrapLines(await bootstrapFirstMesh(broker, config.bootstrapMesh, { v1Link: config.bootstrapV1Link }), config.home));
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`claudemesh broker failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
