import { describe, expect, it } from 'vitest';
import { startTestBroker } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { DataSource } from 'typeorm';

describe.each(dbKinds())('TypeORM entities against the migrated schema on %s', (kind) => {
  it('finds no difference between the entities and the schema the migrations built', async () => {
    const tb = await startTestBroker(kind);
    try {
      const ds = tb.broker.app.get(DataSource);
      const pending = await ds.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
    } finally {
      await tb.close();
    }
  });
});
