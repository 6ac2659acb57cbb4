import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../../../test/helpers/broker.js';
import { BrokerProcess, freePort } from '../../../tools/bench/src/broker-process.js';
import { createTestDatabase, pgAvailable } from '../../../test/helpers/db.js';

/** Whether anything answers HTTP on the port (the start-up's port check binds it for an instant, answering nothing). */
async function httpAnswers(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe.skipIf(!pgAvailable())('broker start-up on Postgres', () => {
  it('refuses to start when an applied migration was edited: non-zero exit, never serving a request', { timeout: 90_000 }, async () => {
    const db = await createTestDatabase();
    const home = mkdtempSync(join(tmpdir(), 'cmh-start-'));
    try {
      const port = await freePort();
      const env = { PORT: String(port), CLAUDEMESH_HOME: home, ADMIN_TOKEN, BOOTSTRAP_MESH: 'off', DATABASE_URL: db.url };
      const first = new BrokerProcess(env);
      await first.start();
      await first.kill('SIGTERM');
      // Make the ledger disagree with the file on disk, as an edited migration would.
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      await client.query(`UPDATE __cmh_migrations SET sha256 = repeat('0', 64) WHERE filename = '0001_foundation.sql'`);
      await client.end();

      const run = BrokerProcess.runToExit(env);
      let servedWhileStarting = false;
      const probe = setInterval(() => void httpAnswers(port).then((up) => (servedWhileStarting ||= up)), 20);
      const { code, output } = await run;
      clearInterval(probe);
      expect(code).not.toBe(0);
      expect(output).toMatch(/E_MIGRATION_EDITED|0001_foundation\.sql/);
      expect(servedWhileStarting).toBe(false);
      expect(await portAnswers(port)).toBe(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
      await db.drop();
    }
  });
});

describe('broker start-up on the embedded database', () => {
  it('rejects an invalid configuration with a clear message and a non-zero exit', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cmh-start-'));
    try {
      const { code, output } = await BrokerProcess.runToExit({ PORT: 'not-a-port', CLAUDEMESH_HOME: home });
      expect(code).toBe(1);
      expect(output).toMatch(/invalid broker configuration[\s\S]*PORT/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
