#!/usr/bin/env node
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ensureAdminToken } from './bootstrap/admin-token.js';
import { bootstrapFirstMesh } from './bootstrap/first-mesh.js';
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
  const join = config.bootstrapMesh ? await bootstrapFirstMesh(broker, config.bootstrapMesh) : null;
  if (join) {
    lines.push(
      `${join.created ? 'created' : 'mesh'} "${join.mesh.mesh_name}" (${join.mesh.mesh_id}); owner key and mesh key: ${config.home}/meshes/${join.mesh.mesh_id}.json`,
      `invites (${join.maxUses} uses each, expire ${new Date(join.expiresAt).toISOString()}):`,
      ...(join.shortLink ? [`  ${join.shortLink}   (short code; the mesh key stays wrapped under it)`] : []),
      `  ${join.inviteLink}`,
      'a peer joins with (claudemesh on PATH: run npx claudemesh install once in a claudemesh checkout):',
      `  claudemesh join '${join.shortLink ?? join.inviteLink}' --name <their-name>`,
      '  (or `claudemesh <link>` to join and start Claude Code with the channel)',
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`claudemesh broker failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
