import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, pgAvailable } from '../../../../test/helpers/db.js';
import { openDatabase, resolveDatabaseTarget, type OpenDatabase } from './database.config.js';
import { MigrationError } from './migration.runner.js';

@Entity({ name: 'notes' })
class Note {
  @PrimaryColumn({ type: 'int' })
  id!: number;

  @Column({ type: 'text' })
  body!: string;
}

const temps: string[] = [];
const opened: OpenDatabase[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cmh-config-'));
  temps.push(dir);
  return dir;
}

function migrations(files: Record<string, string>): string {
  const dir = join(tempDir(), 'migrations');
  mkdirSync(dir);
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

const NOTES = { '0001_notes.sql': 'CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);' };

/** The size of the pg pool the DataSource really uses. */
const poolMax = (db: OpenDatabase): number => (db.dataSource.driver as unknown as { master: { options: { max: number } } }).master.options.max;

function embeddedTarget(): { kind: 'embedded'; dataDir: string; socketDir: string } {
  const target = resolveDatabaseTarget({ DATA_DIR: join(tempDir(), 'data') });
  if (target.kind !== 'embedded') throw new Error('expected an embedded target');
  return target;
}

afterEach(async () => {
  for (const db of opened.splice(0)) await db.close().catch(() => undefined);
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('resolveDatabaseTarget', () => {
  it('uses Postgres when DATABASE_URL is set', () => {
    expect(resolveDatabaseTarget({ DATABASE_URL: 'postgres://u@db:5432/cm', DATA_DIR: '/var/lib/cm' })).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/cm' });
  });

  it('uses the embedded database under DATA_DIR when DATABASE_URL is unset or blank', () => {
    const expected = { kind: 'embedded', dataDir: '/var/lib/cm/pgdata', socketDir: '/var/lib/cm/run' };
    expect(resolveDatabaseTarget({ DATA_DIR: '/var/lib/cm' })).toEqual(expected);
    expect(resolveDatabaseTarget({ DATABASE_URL: '  ', DATA_DIR: '/var/lib/cm' })).toEqual(expected);
  });

  it('makes a relative DATA_DIR absolute, because pg only treats an absolute host as a socket directory', () => {
    expect(resolveDatabaseTarget({ DATA_DIR: 'data' })).toEqual({ kind: 'embedded', dataDir: resolve('data', 'pgdata'), socketDir: resolve('data', 'run') });
  });
});

describe('openDatabase', () => {
  it('migrates an embedded database under DATA_DIR and keeps its data across close and reopen', async () => {
    const target = embeddedTarget();
    const dir = migrations(NOTES);

    const first = await openDatabase(target, dir, [Note]);
    opened.push(first);
    expect(first.kind).toBe('embedded');
    expect(poolMax(first)).toBe(1);
    await first.dataSource.getRepository(Note).save({ id: 1, body: 'survives a restart' });
    await first.close();
    expect(existsSync(join(target.socketDir, '.s.PGSQL.5432'))).toBe(false);

    const lines: string[] = [];
    const second = await openDatabase(target, dir, [Note], { log: (line) => lines.push(line) });
    opened.push(second);

    expect(await second.dataSource.getRepository(Note).find()).toEqual([{ id: 1, body: 'survives a restart' }]);
    expect(second.embedded?.startup.source).toBe('existing');
    expect(lines).toContain('migrations: 0 applied, 1 already up to date');
  });

  it('throws when a migration fails and leaves the embedded database stopped', async () => {
    const target = embeddedTarget();
    const broken = migrations({ ...NOTES, '0002_broken.sql': 'ALTER TABLE missing ADD COLUMN x int;' });

    const error: unknown = await openDatabase(target, broken, [Note]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ code: 'E_MIGRATION_FAILED', file: '0002_broken.sql' });
    expect(existsSync(join(target.socketDir, '.s.PGSQL.5432'))).toBe(false);

    // The failed attempt released the data directory: a fixed set of migrations opens it.
    const fixed = await openDatabase(target, migrations(NOTES), [Note]);
    opened.push(fixed);
    expect(await fixed.dataSource.getRepository(Note).count()).toBe(0);
  });

  it.skipIf(!pgAvailable())('migrates a Postgres database given by DATABASE_URL and uses a pool of 10', async () => {
    const pgdb = await createTestDatabase();
    try {
      const db = await openDatabase(resolveDatabaseTarget({ DATABASE_URL: pgdb.url, DATA_DIR: tempDir() }), migrations(NOTES), [Note]);
      opened.push(db);
      await db.dataSource.getRepository(Note).save({ id: 7, body: 'in postgres' });

      expect(db.kind).toBe('postgres');
      expect(db.embedded).toBeUndefined();
      expect(poolMax(db)).toBe(10);
      expect(await db.dataSource.getRepository(Note).findOneBy({ id: 7 })).toEqual({ id: 7, body: 'in postgres' });
      await db.close();
    } finally {
      await pgdb.drop();
    }
  });
});

describe('a new embedded data directory from the migrated cluster', () => {
  const open = async (target: ReturnType<typeof embeddedTarget>, dir: string, templateCacheDir: string, extra: { sharedBuffers?: string } = {}) => {
    const lines: string[] = [];
    const db = await openDatabase(target, dir, [Note], { log: (line) => lines.push(line), embedded: { templateCacheDir, ...extra } });
    opened.push(db);
    return { db, lines };
  };

  it('caches a cluster once its migrations ran, and starts the next new data directory from it with nothing left to apply', async () => {
    const cache = join(tempDir(), 'templates');
    const dir = migrations(NOTES);
    const first = await open(embeddedTarget(), dir, cache);
    expect(first.db.embedded?.startup.source).toMatch(/^(initdb|template)$/);
    expect(first.lines).toContain('migrations: 1 applied, 0 already up to date');
    expect(first.lines).toContain('database: cached the migrated cluster for the next new data directory');
    await first.db.dataSource.getRepository(Note).save({ id: 1, body: 'only in the first data directory' });

    const second = await open(embeddedTarget(), dir, cache);
    expect(second.db.embedded?.startup.source).toBe('migrated');
    expect(second.lines).toContain('migrations: 0 applied, 1 already up to date');
    // The cache holds the schema the migrations built, never a row written afterwards.
    expect(await second.db.dataSource.getRepository(Note).find()).toEqual([]);
    await second.db.dataSource.getRepository(Note).save({ id: 2, body: 'the table is there' });
    expect(await second.db.dataSource.getRepository(Note).count()).toBe(1);
  });

  it('does not use a cached cluster built by other migrations: a new migration is applied, not skipped', async () => {
    const cache = join(tempDir(), 'templates');
    await open(embeddedTarget(), migrations(NOTES), cache);
    const more = migrations({ ...NOTES, '0002_tags.sql': 'ALTER TABLE notes ADD COLUMN tag text;' });
    const next = await open(embeddedTarget(), more, cache);
    expect(next.db.embedded?.startup.source).not.toBe('migrated');
    expect(next.lines).toContain('migrations: 2 applied, 0 already up to date');
    expect(await next.db.dataSource.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'notes' AND column_name = 'tag'`)).toHaveLength(1);
  });

  it('runs with the shared_buffers it is given', async () => {
    const { db } = await open(embeddedTarget(), migrations(NOTES), join(tempDir(), 'templates'), { sharedBuffers: '16MB' });
    expect(await db.dataSource.query('SHOW shared_buffers')).toEqual([{ shared_buffers: '16MB' }]);
  });
});
