/**
 * Forward-only SQL migrations: `NNNN_name.sql` files applied in name order, each in its own
 * transaction together with its row in the ledger `__cmh_migrations(filename, sha256, applied_at)`.
 *
 * Runs on a dedicated pg.Client under a session advisory lock, so several broker nodes starting
 * at once apply every file exactly once. An applied file whose content changed, or a ledger row
 * whose file is gone, stops the run before anything is applied: the broker must not start on a
 * schema it cannot vouch for.
 *
 * A migration file must not contain its own BEGIN/COMMIT, nor statements that cannot run inside a
 * transaction block (CREATE INDEX CONCURRENTLY, ALTER TYPE ... ADD VALUE before PG 12, VACUUM).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

export type MigrationErrorCode =
  | 'E_MIGRATION_EDITED'
  | 'E_MIGRATION_MISSING'
  | 'E_MIGRATION_FAILED'
  | 'E_MIGRATION_BAD_NAME'
  | 'E_MIGRATION_DUPLICATE';

export class MigrationError extends Error {
  constructor(
    readonly code: MigrationErrorCode,
    message: string,
    /** The migration file concerned, when there is one. */
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export interface MigrationResult {
  /** Files applied by this run, in order. */
  applied: string[];
  /** Files already in the ledger with the same sha256. */
  skipped: string[];
}

export const MIGRATIONS_TABLE = '__cmh_migrations';

/** pg_advisory_lock key: the first 8 bytes of sha256('claudemesh:migrations') as a signed bigint. */
export const MIGRATION_LOCK_KEY: string = createHash('sha256').update('claudemesh:migrations').digest().readBigInt64BE(0).toString();

const FILE_PATTERN = /^(\d{4})_[A-Za-z0-9_-]+\.sql$/;

interface MigrationFile {
  filename: string;
  sql: string;
  sha256: string;
}

function readMigrationFiles(dir: string): MigrationFile[] {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.sql'))
    .map((entry) => entry.name)
    .sort();
  const byNumber = new Map<string, string>();
  return names.map((filename) => {
    const match = FILE_PATTERN.exec(filename);
    if (!match) {
      throw new MigrationError('E_MIGRATION_BAD_NAME', `migration ${filename} in ${dir} is not named NNNN_name.sql`, filename);
    }
    const number = match[1]!;
    const other = byNumber.get(number);
    if (other) throw new MigrationError('E_MIGRATION_DUPLICATE', `migrations ${other} and ${filename} share the number ${number}`, filename);
    byNumber.set(number, filename);
    const bytes = readFileSync(join(dir, filename));
    return { filename, sql: bytes.toString('utf8'), sha256: createHash('sha256').update(bytes).digest('hex') };
  });
}

/**
 * One digest of a migrations directory: every file's name and sha256, in order. Names a cluster
 * that has exactly these migrations applied (the embedded database's migrated template). A
 * directory the runner would refuse (a bad name, a duplicate number) has none.
 */
export function migrationsDigest(dir: string): string | null {
  try {
    const hash = createHash('sha256');
    for (const file of readMigrationFiles(dir)) hash.update(`${file.filename}\0${file.sha256}\n`);
    return hash.digest('hex').slice(0, 32);
  } catch {
    return null;
  }
}

function describePgError(error: unknown): string {
  const err = error as Partial<pg.DatabaseError> & Error;
  const parts = [err.message];
  if (err.code) parts.push(`(SQLSTATE ${err.code})`);
  if (err.position) parts.push(`at character ${err.position}`);
  return parts.join(' ');
}

export async function runMigrations(conn: pg.ClientConfig | string, dir: string, log: (line: string) => void = () => undefined): Promise<MigrationResult> {
  const files = readMigrationFiles(dir);
  const config: pg.ClientConfig = typeof conn === 'string' ? { connectionString: conn } : { ...conn };
  config.application_name ??= 'claudemesh-migrations';
  const client = new pg.Client(config);
  // A dropped connection must reject the pending query, not crash the process.
  client.on('error', () => undefined);
  await client.connect();
  let locked = false;
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    locked = true;
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
         filename   text        PRIMARY KEY,
         sha256     text        NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ filename: string; sha256: string }>(`SELECT filename, sha256 FROM ${MIGRATIONS_TABLE} ORDER BY filename`);
    const ledger = new Map(rows.map((row) => [row.filename, row.sha256]));
    const onDisk = new Set(files.map((file) => file.filename));

    // Verify everything before applying anything.
    for (const file of files) {
      const recorded = ledger.get(file.filename);
      if (recorded !== undefined && recorded !== file.sha256) {
        throw new MigrationError(
          'E_MIGRATION_EDITED',
          `migration ${file.filename} was edited after it was applied (ledger sha256 ${recorded}, file sha256 ${file.sha256}); add a new migration instead`,
          file.filename,
        );
      }
    }
    for (const filename of ledger.keys()) {
      if (!onDisk.has(filename)) {
        throw new MigrationError('E_MIGRATION_MISSING', `migration ${filename} is recorded as applied but is missing from ${dir}`, filename);
      }
    }

    const result: MigrationResult = { applied: [], skipped: [] };
    const lastApplied = rows.at(-1)?.filename;
    for (const file of files) {
      if (ledger.has(file.filename)) {
        result.skipped.push(file.filename);
        continue;
      }
      if (lastApplied !== undefined && file.filename < lastApplied) {
        log(`migrations: warning: ${file.filename} sorts before the already applied ${lastApplied}; applying it now`);
      }
      const started = performance.now();
      await client.query('BEGIN');
      try {
        await client.query(file.sql);
        await client.query(`INSERT INTO ${MIGRATIONS_TABLE} (filename, sha256) VALUES ($1, $2)`, [file.filename, file.sha256]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new MigrationError('E_MIGRATION_FAILED', `migration ${file.filename} failed and was rolled back: ${describePgError(error)}`, file.filename, { cause: error });
      }
      result.applied.push(file.filename);
      log(`migrations: applied ${file.filename} (${Math.round(performance.now() - started)} ms)`);
    }
    log(`migrations: ${result.applied.length} applied, ${result.skipped.length} already up to date`);
    return result;
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
