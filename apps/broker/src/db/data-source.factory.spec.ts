import { afterEach, beforeEach, expect, it } from 'vitest';
import { Column, Entity, PrimaryGeneratedColumn, type DataSource } from 'typeorm';
import { describeDb, openTestDb, type TestDb } from '../../../../test/helpers/db.js';
import { createDataSource } from './data-source.factory.js';

@Entity({ name: 'iso_notes' })
class IsoNote {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'text' })
  label!: string;
}

class RolledBack extends Error {}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeDb('typeorm DataSource', (kind) => {
  let db: TestDb;
  let ds: DataSource;

  beforeEach(async () => {
    db = await openTestDb(kind);
    ds = createDataSource({ connection: db.connection, poolMax: db.poolMax, entities: [IsoNote] });
    await ds.initialize();
  });
  afterEach(async () => {
    if (ds.isInitialized) await ds.destroy();
    await db.close();
  });

  it('never creates tables itself: the schema belongs to the migrations', async () => {
    const rows: unknown[] = await ds.query(`SELECT table_name FROM information_schema.tables WHERE table_name = 'iso_notes'`);
    expect(rows).toEqual([]);
  });

  const title =
    kind === 'embedded'
      ? 'concurrent transactions with a rollback stay isolated on the embedded DB'
      : 'concurrent transactions with a rollback stay isolated on Postgres';

  it(title, async () => {
    await ds.query('CREATE TABLE iso_notes (id serial PRIMARY KEY, label text NOT NULL)');
    // 'open' from before the INSERT until just before COMMIT/ROLLBACK is sent.
    const phase = new Map<string, 'open' | 'closing'>();
    const spans = new Map<string, { from: number; to: number }>();
    const violations: string[] = [];
    const seenByReader = new Set<string>();

    const transaction = (label: string, rollback: boolean): Promise<void> =>
      ds.transaction(async (manager) => {
        const from = performance.now();
        phase.set(label, 'open');
        await manager.insert(IsoNote, { label });
        await sleep(40); // give the others and the reader every chance to run now
        const own = await manager.find(IsoNote);
        if (!own.some((note) => note.label === label)) violations.push(`${label} cannot see its own row`);
        phase.set(label, 'closing');
        spans.set(label, { from, to: performance.now() });
        if (rollback) throw new RolledBack();
      });

    let reading = true;
    const reader = (async () => {
      while (reading) {
        for (const note of await ds.getRepository(IsoNote).find()) {
          seenByReader.add(note.label);
          if (phase.get(note.label) !== 'closing') violations.push(`reader saw uncommitted ${note.label}`);
        }
        await sleep(2);
      }
    })();

    const outcomes = await Promise.allSettled([transaction('a', false), transaction('b', true), transaction('c', false)]);
    reading = false;
    await reader;

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(RolledBack);
    expect(violations).toEqual([]);
    expect(seenByReader.has('b')).toBe(false);
    const rows = await ds.getRepository(IsoNote).find({ order: { label: 'ASC' } });
    expect(rows.map((row) => row.label)).toEqual(['a', 'c']);

    if (kind === 'embedded') {
      // Pool max 1 over the single PGlite session: the transactions ran one after another.
      const ordered = [...spans.values()].sort((x, y) => x.from - y.from);
      for (let i = 1; i < ordered.length; i++) expect(ordered[i]!.from).toBeGreaterThanOrEqual(ordered[i - 1]!.to);
    }
  });
});
