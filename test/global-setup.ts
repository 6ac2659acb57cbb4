/**
 * Vitest globalSetup (runs once, in the main process, before workers start).
 *
 * Decides whether the real-Postgres half of the database suites runs:
 * - CLAUDEMESH_TEST_PG=off       skip it;
 * - CLAUDEMESH_TEST_PG=required  fail the run if Postgres is unreachable (CI);
 * - otherwise                    use Postgres if it answers within 2 s, else skip with a reason.
 * The admin URL is CLAUDEMESH_TEST_PG_ADMIN_URL ?? postgres://postgres@127.0.0.1:5432/postgres.
 *
 * On success it sets process.env.CLAUDEMESH_TEST_PG_URL (forked test workers inherit the main
 * process's env) and CLAUDEMESH_TEST_RUN_ID, which names this run's test databases
 * (cmh_test_<run>_<random>) so that teardown can drop any a crashed test left behind.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const PROBE_TIMEOUT_MS = 2_000;

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}

async function probe(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ can_create: boolean; version: number }>(
      `SELECT (rolcreatedb OR rolsuper) AS can_create, current_setting('server_version_num')::int AS version
         FROM pg_roles WHERE rolname = current_user`,
    );
    const row = rows[0];
    if (!row?.can_create) throw new Error('the role cannot CREATE DATABASE');
    if (row.version < 130000) throw new Error('Postgres 13 or newer is needed (DROP DATABASE ... WITH (FORCE))');
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropRunDatabases(url: string, runId: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`cmh_test_${runId}_%`]);
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } catch (error) {
    process.stderr.write(`test databases of run ${runId} could not be dropped: ${(error as Error).message}\n`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export default async function setup(): Promise<(() => Promise<void>) | void> {
  delete process.env.CLAUDEMESH_TEST_PG_URL;
  const mode = (process.env.CLAUDEMESH_TEST_PG ?? '').trim().toLowerCase();
  if (mode === 'off') {
    process.stderr.write('Postgres suite skipped: CLAUDEMESH_TEST_PG=off\n');
    return;
  }
  const url = process.env.CLAUDEMESH_TEST_PG_ADMIN_URL ?? DEFAULT_ADMIN_URL;
  const started = Date.now();
  try {
    await probe(url);
  } catch (error) {
    const timedOut = Date.now() - started >= PROBE_TIMEOUT_MS ? ` (no answer within ${PROBE_TIMEOUT_MS / 1000} s)` : '';
    const reason = `${redact(url)}: ${(error as Error).message || String(error)}${timedOut}`;
    if (mode === 'required') throw new Error(`CLAUDEMESH_TEST_PG=required but Postgres is not usable at ${reason}`);
    process.stderr.write(`Postgres suite skipped: ${reason}\n`);
    return;
  }
  const runId = randomBytes(3).toString('hex');
  process.env.CLAUDEMESH_TEST_PG_URL = url;
  process.env.CLAUDEMESH_TEST_RUN_ID = runId;
  return () => dropRunDatabases(url, runId);
}
