import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TestBroker } from './broker.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return [];
    return st.isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * Everything the database holds, as bytes: pg_dump for Postgres, every file of the data dir for
 * PGlite (close the broker first, so the embedded data dir is flushed to disk).
 */
export function dumpDatabase(tb: TestBroker): Buffer {
  if (tb.kind === 'postgres') return execFileSync('pg_dump', ['--no-owner', tb.databaseUrl!], { maxBuffer: 256 * 1024 * 1024 });
  return Buffer.concat(filesUnder(join(tb.dataDir, 'pgdata')).map((f) => readFileSync(f)));
}
