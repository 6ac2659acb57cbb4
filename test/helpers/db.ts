/**
 * Database helpers for tests. Suites that touch the database run against every available kind:
 *
 *   describeDb('messages store', (kind) => {
 *     let db: TestDb;
 *     beforeEach(async () => { db = await openTestDb(kind); });
 *     afterEach(() => db.close());
 *     it('...', async () => { ... db.connection ... });
 *   });
 *
 * 'embedded' is always available (an in-memory PGlite behind its unix socket); 'postgres' only
 * when test/global-setup.ts found a server (CLAUDEMESH_TEST_PG_URL).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe } from 'vitest';
import { startEmbeddedPostgres } from '../../apps/broker/src/db/embedded-postgres.js';

export type DbKind = 'embedded' | 'postgres';

/** True when global setup found a usable Postgres server. */
export function pgAvailable(): boolean {
  return Boolean(process.env.CLAUDEMESH_TEST_PG_URL);
}

export function dbKinds(): DbKind[] {
  return pgAvailable() ? ['embedded', 'postgres'] : ['embedded'];
}

/** `describe` once per available database kind; the title gets ` [embedded]` / ` [postgres]`. */
export function describeDb(name: string, fn: (kind: DbKind) => void): void {
  describe.each(dbKinds())(`${name} [%s]`, fn);
}

function adminUrl(): string {
  const url = process.env.CLAUDEMESH_TEST_PG_URL;
  if (!url) throw new Error('Postgres is not available to tests (see test/global-setup.ts); guard with pgAvailable() or dbKinds()');
  return url;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(), connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database `cmh_test_<run>_<random>` on the test Postgres server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const run = process.env.CLAUDEMESH_TEST_RUN_ID ?? 'x';
  const name = `cmh_test_${run}_${randomBytes(6).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: url.toString(),
    drop: () => {
      dropped ??= withAdmin(async (client) => {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      });
      return dropped;
    },
  };
}

export interface TestDb {
  kind: DbKind;
  /** What pg.Client, runMigrations and createDataSource accept. */
  connection: pg.ClientConfig | string;
  /** Pool size the broker uses for this kind. */
  poolMax: number;
  close(): Promise<void>;
}

/** A fresh empty database of the given kind: an in-memory PGlite, or a new Postgres database. */
export async function openTestDb(kind: DbKind): Promise<TestDb> {
  if (kind === 'postgres') {
    const db = await createTestDatabase();
    return { kind, connection: db.url, poolMax: 10, close: () => db.drop() };
  }
  const dir = mkdtempSync(join(tmpdir(), 'cmh-db-'));
  try {
    const embedded = await startEmbeddedPostgres({ socketDir: join(dir, 'run') });
    return {
      kind,
      connection: embedded.connection,
      poolMax: 1,
      close: async () => {
        try {
          await embedded.stop();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
