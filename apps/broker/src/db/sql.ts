import { createHash } from 'node:crypto';
import type pg from 'pg';
import { DataSource, QueryFailedError, type QueryRunner } from 'typeorm';

/** Runs raw SQL and returns rows, whatever the statement kind (TypeORM shapes UPDATE results differently). */
export async function rows<T>(runner: DataSource | QueryRunner, sql: string, params: unknown[] = []): Promise<T[]> {
  if (runner instanceof DataSource) {
    const qr = runner.createQueryRunner();
    try {
      return await rows<T>(qr, sql, params);
    } finally {
      await qr.release();
    }
  }
  const result = (await runner.query(sql, params, true)) as { records?: T[] };
  return result.records ?? [];
}

/** One transaction on a dedicated runner: on the embedded DB (pool of one) this serializes with every other query. */
export async function transaction<T>(ds: DataSource, work: (qr: QueryRunner) => Promise<T>): Promise<T> {
  const qr = ds.createQueryRunner();
  await qr.connect();
  try {
    await qr.startTransaction();
    const result = await work(qr);
    await qr.commitTransaction();
    return result;
  } catch (error) {
    if (qr.isTransactionActive) await qr.rollbackTransaction().catch(() => undefined);
    throw error;
  } finally {
    await qr.release();
  }
}

/** Statement names by text: a hot statement is parsed and planned once per connection, not per call. */
const statementNames = new Map<string, string>();
/** At most this many names are kept (statements are a fixed set; a caller building SQL from data would grow it). */
const MAX_STATEMENT_NAMES = 256;

function statementName(sql: string): string | undefined {
  let name = statementNames.get(sql);
  if (name === undefined && statementNames.size < MAX_STATEMENT_NAMES) {
    name = `cm_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`;
    statementNames.set(sql, name);
  }
  return name;
}

/**
 * rows() for the statements of the hot paths (a topic post's): sent as a named prepared statement,
 * so Postgres parses and plans it once per connection rather than on every call. The SQL must be
 * one of a fixed set (no values in its text); errors are TypeORM's QueryFailedError, as rows() gives.
 */
export async function preparedRows<T>(runner: DataSource | QueryRunner, sql: string, params: unknown[] = []): Promise<T[]> {
  if (runner instanceof DataSource) {
    const qr = runner.createQueryRunner();
    try {
      return await preparedRows<T>(qr, sql, params);
    } finally {
      await qr.release();
    }
  }
  const name = statementName(sql);
  if (name === undefined) return rows<T>(runner, sql, params);
  const client = (await runner.connect()) as pg.PoolClient;
  try {
    return (await client.query<T & pg.QueryResultRow>({ name, text: sql, values: params })).rows;
  } catch (error) {
    throw new QueryFailedError(sql, params, error as Error);
  }
}
