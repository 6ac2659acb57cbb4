import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** The rows of docs/crypto.md's "Test vectors" table: file → the specs named as checking it. */
function vectorTable(): Map<string, string[]> {
  const doc = readFileSync(`${root}docs/crypto.md`, 'utf8');
  const section = doc.slice(doc.indexOf('## Test vectors'));
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^\| `([^`]+\.json)` \|.*\| ([^|]+) \|$/.exec(line);
    if (m) rows.set(m[1]!, [...m[2]!.matchAll(/`([^`]+\.spec\.ts)`/g)].map((s) => s[1]!));
  }
  return rows;
}

describe('the test-vector table of docs/crypto.md', () => {
  it('names every file in docs/test-vectors, and no other', () => {
    const files = readdirSync(`${root}docs/test-vectors`).filter((f) => f.endsWith('.json')).sort();
    expect([...vectorTable().keys()].sort()).toEqual(files);
  });

  it('names for each file a spec that exists and reads it', () => {
    for (const [file, specs] of vectorTable()) {
      expect(specs.length, file).toBeGreaterThan(0);
      const readers = specs.filter((spec) => existsSync(`${root}${spec}`) && readFileSync(`${root}${spec}`, 'utf8').includes(file.replace(/\.json$/, '')));
      expect(readers, `${file}: a named spec that exists and loads it`).not.toEqual([]);
    }
  });
});
