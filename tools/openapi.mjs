#!/usr/bin/env node
/**
 * Writes docs/openapi.json: boots a broker from apps/broker/dist (an embedded database in a temp
 * dir, an ephemeral port), fetches its live GET /api/openapi.json and stores it. Run it as
 * `npm run openapi` (which builds the broker first); apps/broker/test/openapi.spec.ts fails while the
 * committed file differs from the live document.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { loadBrokerConfig } = await import(join(root, 'apps/broker/dist/config/broker.config.js'));
const { MIGRATIONS_DIR, startBroker } = await import(join(root, 'apps/broker/dist/server.js'));

const home = mkdtempSync(join(tmpdir(), 'cmh-openapi-'));
let broker;
try {
  broker = await startBroker(loadBrokerConfig({ PORT: '0', HOST: '127.0.0.1', CLAUDEMESH_HOME: home, LOG_LEVEL: 'error', BOOTSTRAP_MESH: 'off' }, MIGRATIONS_DIR));
  const res = await fetch(`${broker.url}/api/openapi.json`);
  if (!res.ok) throw new Error(`GET /api/openapi.json answered ${res.status}`);
  const target = join(root, 'docs/openapi.json');
  writeFileSync(target, `${JSON.stringify(await res.json(), null, 2)}\n`);
  process.stdout.write(`wrote ${target}\n`);
} finally {
  await broker?.close();
  rmSync(home, { recursive: true, force: true });
}
