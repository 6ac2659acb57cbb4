import { DataSource, type QueryRunner } from 'typeorm';

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
