/**
 * The broker's TypeORM DataSource, for Postgres and for the embedded database alike (both are
 * reached through `pg`). The schema belongs to migrations/*.sql: TypeORM never synchronises,
 * never runs its own migrations and never installs extensions.
 */
import pg from 'pg';
import { DataSource, type EntitySchema } from 'typeorm';

/** Entity classes (or EntitySchemas), as TypeORM takes them. */
export type EntityList = Array<Function | EntitySchema>;

export interface CreateDataSourceOptions {
  /** A connection string or a pg.ClientConfig (for the embedded database: `embedded.connection`). */
  connection: pg.ClientConfig | string;
  /** Pool size. The embedded database needs 1: it is a single session shared by all connections. */
  poolMax: number;
  entities: EntityList;
  logging?: boolean;
  /**
   * How long a query may wait for a pooled connection (and a new connection may take to open)
   * before it fails. With poolMax 1, a query issued on the DataSource from inside a transaction
   * waits for the transaction's own connection; this turns that deadlock into an error.
   * Default 30 s; 0 waits forever.
   */
  acquireTimeoutMs?: number;
}

export function createDataSource(opts: CreateDataSourceOptions): DataSource {
  const clientConfig: pg.ClientConfig = typeof opts.connection === 'string' ? { connectionString: opts.connection } : opts.connection;
  const acquireTimeoutMs = opts.acquireTimeoutMs ?? clientConfig.connectionTimeoutMillis ?? 30_000;
  return new DataSource({
    type: 'postgres',
    driver: pg,
    // TypeORM reads these itself (url/host/database feed its metadata queries) ...
    ...(clientConfig.connectionString !== undefined ? { url: clientConfig.connectionString } : {}),
    ...(clientConfig.host !== undefined ? { host: clientConfig.host } : {}),
    ...(clientConfig.port !== undefined ? { port: clientConfig.port } : {}),
    ...(clientConfig.user !== undefined ? { username: clientConfig.user } : {}),
    ...(clientConfig.database !== undefined ? { database: clientConfig.database } : {}),
    applicationName: clientConfig.application_name ?? 'claudemesh-broker',
    entities: opts.entities,
    synchronize: false,
    migrationsRun: false,
    migrations: [],
    installExtensions: false,
    logging: opts.logging ?? false,
    poolSize: opts.poolMax,
    // ... and hands the pool everything else; `extra` wins over TypeORM's own mapping.
    extra: {
      ...clientConfig,
      application_name: clientConfig.application_name ?? 'claudemesh-broker',
      max: opts.poolMax,
      connectionTimeoutMillis: acquireTimeoutMs,
    },
  });
}
