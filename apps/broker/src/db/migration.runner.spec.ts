import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeDb, openTestDb, type TestDb } from '../../../../test/helpers/db.js';
import { MIGRATION_LOCK_KEY, MigrationError, runMigrations } from './migration.runner.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cmh-migrations-'));
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

async function query<T extends pg.QueryResultRow>(db: TestDb, sql: string): Promise<T[]> {
  const client = new pg.Client(db.connection);
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function ledger(db: TestDb): Promise<Array<{ filename: string; sha256: string }>> {
  return query(db, 'SELECT filename, sha256 FROM __cmh_migrations ORDER BY filename');
}

async function tables(db: TestDb): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    db,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__cmh_migrations' ORDER BY table_name`,
  );
  return rows.map((row) => row.table_name);
}

async function rejection(promise: Promise<unknown>): Promise<MigrationError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(MigrationError);
  return error as MigrationError;
}

const BASE = {
  '0001_people.sql': 'CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL);',
  // Depends on 0001: only works if applied after it.
  '0002_pets.sql': 'CREATE TABLE pets (id int PRIMARY KEY, owner int NOT NULL REFERENCES people (id));\nINSERT INTO people VALUES (1, $$ada$$);',
  '0010_toys.sql': 'CREATE TABLE toys (id int PRIMARY KEY);',
};

describeDb('migration runner', (kind) => {
  let db: TestDb;
  const dirs: string[] = [];
  const dir = (files: Record<string, string>): string => {
    const created = migrationsDir(files);
    dirs.push(created);
    return created;
  };

  beforeEach(async () => {
    db = await openTestDb(kind);
  });
  afterEach(async () => {
    await db.close();
    for (const created of dirs.splice(0)) rmSync(created, { recursive: true, force: true });
  });

  it('applies the files in name order and records the sha256 of each in the ledger', async () => {
    const lines: string[] = [];
    const result = await runMigrations(db.connection, dir(BASE), (line) => lines.push(line));

    expect(result).toEqual({ applied: ['0001_people.sql', '0002_pets.sql', '0010_toys.sql'], skipped: [] });
    expect(await ledger(db)).toEqual(Object.entries(BASE).map(([filename, sql]) => ({ filename, sha256: sha256(sql) })));
    expect(await tables(db)).toEqual(['people', 'pets', 'toys']);
    expect(lines).toContain('migrations: 3 applied, 0 already up to date');
  });

  it('applies nothing on a second run and reports every file as skipped', async () => {
    const migrations = dir(BASE);
    await runMigrations(db.connection, migrations);

    const second = await runMigrations(db.connection, migrations);

    expect(second).toEqual({ applied: [], skipped: ['0001_people.sql', '0002_pets.sql', '0010_toys.sql'] });
    expect(await query(db, 'SELECT count(*)::int AS n FROM people')).toEqual([{ n: 1 }]);
  });

  it('refuses with E_MIGRATION_EDITED when an applied file changed, and applies nothing new', async () => {
    const migrations = dir({ '0001_people.sql': BASE['0001_people.sql'] });
    await runMigrations(db.connection, migrations);
    writeFileSync(join(migrations, '0001_people.sql'), `${BASE['0001_people.sql']}\n-- tweaked`);
    writeFileSync(join(migrations, '0002_pets.sql'), BASE['0002_pets.sql']);

    const error = await rejection(runMigrations(db.connection, migrations));

    expect(error.code).toBe('E_MIGRATION_EDITED');
    expect(error.file).toBe('0001_people.sql');
    expect(error.message).toContain('0001_people.sql');
    expect(await tables(db)).toEqual(['people']);
    expect((await ledger(db)).map((row) => row.filename)).toEqual(['0001_people.sql']);
  });

  it('refuses with E_MIGRATION_MISSING when an applied file is gone', async () => {
    const migrations = dir(BASE);
    await runMigrations(db.connection, migrations);
    unlinkSync(join(migrations, '0002_pets.sql'));

    const error = await rejection(runMigrations(db.connection, migrations));

    expect(error.code).toBe('E_MIGRATION_MISSING');
    expect(error.file).toBe('0002_pets.sql');
  });

  it('rolls a failing migration back, leaves no ledger row for it and stops there', async () => {
    const migrations = dir({
      '0001_people.sql': BASE['0001_people.sql'],
      // The first statement succeeds, the second fails: the table must not survive.
      '0002_broken.sql': 'CREATE TABLE half_done (id int);\nINSERT INTO no_such_table VALUES (1);',
      '0003_after.sql': 'CREATE TABLE after_broken (id int);',
    });

    const error = await rejection(runMigrations(db.connection, migrations));

    expect(error.code).toBe('E_MIGRATION_FAILED');
    expect(error.file).toBe('0002_broken.sql');
    expect(error.message).toMatch(/no_such_table/);
    expect(await tables(db)).toEqual(['people']);
    expect((await ledger(db)).map((row) => row.filename)).toEqual(['0001_people.sql']);
  });

  it('applies each file exactly once when two runners start at the same time', async () => {
    const slow = (n: number): string => `SELECT pg_sleep(0.1);\nINSERT INTO applications VALUES (${n});`;
    const migrations = dir({
      '0001_applications.sql': 'CREATE TABLE applications (n int NOT NULL);',
      '0002_a.sql': slow(2),
      '0003_b.sql': slow(3),
    });

    const [first, second] = await Promise.all([runMigrations(db.connection, migrations), runMigrations(db.connection, migrations)]);

    const applied = [...first.applied, ...second.applied].sort();
    expect(applied).toEqual(['0001_applications.sql', '0002_a.sql', '0003_b.sql']);
    expect(await query(db, 'SELECT n FROM applications ORDER BY n')).toEqual([{ n: 2 }, { n: 3 }]);
    expect(await ledger(db)).toHaveLength(3);
    // Nothing holds the migration lock afterwards.
    expect(await query(db, `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`)).toEqual([{ n: 0 }]);
  });
});

describe('migration runner file rules', () => {
  const unreachable = 'postgres://nobody@127.0.0.1:1/none';

  it('refuses a .sql file that is not named NNNN_name.sql before connecting', async () => {
    const migrations = migrationsDir({ '0001_ok.sql': 'SELECT 1;', 'cleanup.sql': 'SELECT 1;' });
    try {
      const error = await rejection(runMigrations(unreachable, migrations));
      expect(error.code).toBe('E_MIGRATION_BAD_NAME');
      expect(error.file).toBe('cleanup.sql');
    } finally {
      rmSync(migrations, { recursive: true });
    }
  });

  it('refuses two files with the same number', async () => {
    const migrations = migrationsDir({ '0002_mine.sql': 'SELECT 1;', '0002_yours.sql': 'SELECT 1;' });
    try {
      const error = await rejection(runMigrations(unreachable, migrations));
      expect(error.code).toBe('E_MIGRATION_DUPLICATE');
      expect(error.message).toContain('0002_mine.sql');
      expect(error.message).toContain('0002_yours.sql');
    } finally {
      rmSync(migrations, { recursive: true });
    }
  });

  it('locks with a fixed bigint derived from claudemesh:migrations', () => {
    const expected = createHash('sha256').update('claudemesh:migrations').digest().readBigInt64BE(0);
    expect(BigInt(MIGRATION_LOCK_KEY)).toBe(expected);
  });
});
