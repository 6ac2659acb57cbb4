/**
 * Which database the broker uses, and opening it: start the embedded server if needed, apply
 * migrations (a failure throws; the caller exits non-zero before the HTTP port is bound), then
 * initialise the TypeORM DataSource.
 */
import { join, resolve } from 'node:path';
import type { DataSource } from 'typeorm';
import { createDataSource, type EntityList } from './data-source.factory.js';
import { startEmbeddedPostgres, type EmbeddedPostgres, type EmbeddedPostgresOptions } from './embedded-postgres.js';
import { migrationsDigest, runMigrations } from './migration.runner.js';

export type DatabaseTarget =
  | { kind: 'postgres'; url: string }
  | { kind: 'embedded'; dataDir: string; socketDir: string };

export type DatabaseKind = DatabaseTarget['kind'];

/** Pool sizes: the embedded database is one session, so one connection. */
export const POOL_MAX: Readonly<Record<DatabaseKind, number>> = { embedded: 1, postgres: 10 };

/** DATABASE_URL (non-empty) selects Postgres; otherwise PGlite under `<DATA_DIR>/pgdata`, socket in `<DATA_DIR>/run`. */
export function resolveDatabaseTarget(env: { DATABASE_URL?: string | undefined; DATA_DIR: string }): DatabaseTarget {
  const url = env.DATABASE_URL?.trim();
  if (url) return { kind: 'postgres', url };
  // Absolute: pg treats a host that starts with '/' as a socket directory.
  const dataDir = resolve(env.DATA_DIR);
  return { kind: 'embedded', dataDir: join(dataDir, 'pgdata'), socketDir: join(dataDir, 'run') };
}

export interface OpenDatabase {
  dataSource: DataSource;
  kind: DatabaseKind;
  /** Present for the embedded kind (socket path, startup timing). */
  embedded?: EmbeddedPostgres;
  /** Destroys the DataSource, then stops the embedded server. Idempotent. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Migration and embedded-server log lines. */
  log?: (line: string) => void;
  /** TypeORM query logging. */
  logging?: boolean;
  /** Passed to startEmbeddedPostgres (template cache, slot wait, shared buffers, unexpected-exit handler). */
  embedded?: Pick<EmbeddedPostgresOptions, 'templateCacheDir' | 'slotWaitMs' | 'onUnexpectedExit' | 'sharedBuffers'>;
}

export async function openDatabase(
  target: DatabaseTarget,
  migrationsDir: string,
  entities: EntityList,
  options: OpenDatabaseOptions = {},
): Promise<OpenDatabase> {
  const log = options.log ?? ((): void => undefined);
  let embedded: EmbeddedPostgres | undefined;
  let dataSource: DataSource | undefined;
  try {
    let connection: string | EmbeddedPostgres['connection'];
    if (target.kind === 'embedded') {
      const migratedKey = migrationsDigest(migrationsDir);
      embedded = await startEmbeddedPostgres({ dataDir: target.dataDir, socketDir: target.socketDir, log, ...(migratedKey ? { migratedKey } : {}), ...options.embedded });
      log(`database: embedded PGlite at ${target.dataDir} (${embedded.startup.source}, ${embedded.startup.ms} ms), socket ${embedded.socketPath}`);
      connection = embedded.connection;
    } else {
      connection = target.url;
    }
    await runMigrations(connection, migrationsDir, log);
    // A new cluster that just got every migration: the next new data directory starts from it.
    if (embedded && (embedded.startup.source === 'template' || embedded.startup.source === 'initdb') && (await embedded.saveMigratedTemplate())) {
      log('database: cached the migrated cluster for the next new data directory');
    }
    dataSource = createDataSource({ connection, poolMax: POOL_MAX[target.kind], entities, logging: options.logging ?? false });
    await dataSource.initialize();
  } catch (error) {
    if (dataSource?.isInitialized) await dataSource.destroy().catch(() => undefined);
    if (embedded) await embedded.stop().catch(() => undefined);
    throw error;
  }

  const ds = dataSource;
  const server = embedded;
  let closing: Promise<void> | undefined;
  return {
    dataSource: ds,
    kind: target.kind,
    ...(server ? { embedded: server } : {}),
    close: () => {
      closing ??= (async () => {
        try {
          if (ds.isInitialized) await ds.destroy();
        } finally {
          await server?.stop();
        }
      })();
      return closing;
    },
  };
}
