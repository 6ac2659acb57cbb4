import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cryptoReady } from '@claudemesh/crypto';
import { BrokerProcess, freePort } from './broker-process.js';
import { runSeedLoad } from './seed-load.js';

/**
 * npm run bench -- --scenario seed-load --peers 10 --messages 1000 [--rate 5600] [--json]
 * Starts the built broker (embedded PGlite, or Postgres with DATABASE_URL) as a child process and drives
 * it through the real SDK with real crypto. Progress on stderr; --json prints one object per scenario.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'seed-load' },
      peers: { type: 'string', default: '10' },
      messages: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '5600' },
      timeout: { type: 'string', default: '120' },
      json: { type: 'boolean', default: false },
      'broker-node-args': { type: 'string', default: '' },
    },
  });
  if (values.scenario !== 'seed-load') throw new Error(`unknown scenario ${values.scenario} (available: seed-load)`);
  await cryptoReady();
  const home = mkdtempSync(join(tmpdir(), 'cmh-bench-'));
  const adminToken = 'bench-admin-token-0123456789';
  const port = await freePort();
  const broker = new BrokerProcess({ PORT: String(port), HOST: '127.0.0.1', CLAUDEMESH_HOME: home, ADMIN_TOKEN: adminToken, BOOTSTRAP_MESH: 'off', LOG_LEVEL: 'error' }, values['broker-node-args'].split(' ').filter(Boolean));
  await broker.start();
  const url = `http://127.0.0.1:${port}`;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, broker.rssMb() ?? 0)), 200);
  try {
    const result = await runSeedLoad({
      url,
      adminToken,
      peers: Number(values.peers),
      messages: Number(values.messages),
      rate: Number(values.rate),
      timeoutMs: Number(values.timeout) * 1000,
      log,
    });
    const row = { scenario: 'seed-load', db: process.env['DATABASE_URL'] ? 'postgres' : 'embedded', ...result, broker_rss_peak_mb: peakRss };
    if (values.json) process.stdout.write(`${JSON.stringify(row)}\n`);
    else log(JSON.stringify(row, null, 2));
  } finally {
    clearInterval(sampler);
    await broker.kill('SIGTERM');
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
