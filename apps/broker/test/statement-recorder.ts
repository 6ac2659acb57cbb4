import { DataSource, type QueryRunner } from 'typeorm';
import type { TestBroker } from '../../../test/helpers/broker.js';

/**
 * Records every statement the broker runs through its DataSource's query runners (rows(),
 * preparedRows() and transactions all take one) until stop(): what a test counts to show that a
 * path reads what it should, and no more.
 */
export function recordStatements(tb: TestBroker): { list: string[]; stop: () => void } {
  const ds = tb.broker.app.get(DataSource);
  const create = ds.createQueryRunner.bind(ds);
  const list: string[] = [];
  ds.createQueryRunner = (...args: Parameters<DataSource['createQueryRunner']>): QueryRunner => {
    const qr = create(...args);
    const query = qr.query.bind(qr);
    qr.query = ((sql: string, ...rest: unknown[]) => {
      list.push(sql);
      return (query as (...a: unknown[]) => Promise<unknown>)(sql, ...rest);
    }) as QueryRunner['query'];
    return qr;
  };
  return { list, stop: () => void (ds.createQueryRunner = create) };
}
