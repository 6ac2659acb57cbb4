import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit, auditPaths, GENESIS, readAudit, verifyAudit, type AuditFields } from './audit-log.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'cmh-audit-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const fields = (verb: string, decision: AuditFields['decision'] = 'allow'): AuditFields => ({
  ts: '2026-01-02T03:04:05.000Z',
  source: 'cli',
  pid: 1,
  resource: 'message',
  verb,
  kind: 'write',
  mesh: 'team',
  mesh_id: null,
  peers: ['bob'],
  mode: 'write',
  decision,
  rule: 'rule 1 of /h/policy.yaml (line 31)',
  prompt: null,
});

/** A home with `n` entries, plus its lines. */
function logOf(n: number): { home: string; lines: string[] } {
  const home = tmp();
  for (let i = 1; i <= n; i++) appendAudit(home, fields(`send`, i % 2 ? 'allow' : 'deny'));
  return { home, lines: readFileSync(auditPaths(home).log, 'utf8').trimEnd().split('\n') };
}

const writeLines = (home: string, lines: string[]): void => writeFileSync(auditPaths(home).log, lines.map((l) => `${l}\n`).join(''));
const problems = (home: string, anchor?: string): string[] =>
  verifyAudit(home, anchor ? { anchor } : {}).problems.map((p) => `${p.line === null ? 'log' : `line ${p.line}`}: ${p.what}`);
/** A forger who recomputes the edited line's own hash (no key stops that; the next link does). */
const rehash = (line: string): string => {
  const body = line.replace(/,"hash":"[0-9a-f]{64}"\}$/, '}');
  return `${body.slice(0, -1)},"hash":"${createHash('sha256').update(body).digest('hex')}"}`;
};

describe('the audit log', () => {
  it('chains every line to the one before from the genesis value, and keeps a head file; all 0600', () => {
    const { home, lines } = logOf(3);
    const entries = readAudit(home);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(entries[0]!.prev).toBe(GENESIS);
    expect(entries[1]!.prev).toBe(entries[0]!.hash);
    expect(entries[2]!.prev).toBe(entries[1]!.hash);
    // the hash covers the line's own text without its "hash" member
    const body = lines[1]!.replace(/,"hash":"[0-9a-f]{64}"\}$/, '}');
    expect(createHash('sha256').update(body).digest('hex')).toBe(entries[1]!.hash);
    expect(Object.keys(entries[0]!)).toEqual(['seq', 'ts', 'source', 'pid', 'resource', 'verb', 'kind', 'mesh', 'mesh_id', 'peers', 'mode', 'decision', 'rule', 'prompt', 'prev', 'hash']);
    const { log, head } = auditPaths(home);
    expect(JSON.parse(readFileSync(head, 'utf8'))).toEqual({ v: 1, count: 3, hash: entries[2]!.hash });
    for (const f of [log, head]) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(verifyAudit(home)).toEqual({ ok: true, entries: 3, last: entries[2]!.hash, problems: [], notes: [] });
    expect(verifyAudit(tmp())).toMatchObject({ ok: true, entries: 0, last: GENESIS });
  });

  it('detects an edited line, even one whose own hash was recomputed', () => {
    const { home, lines } = logOf(4);
    writeLines(home, [lines[0]!, lines[1]!.replace('"decision":"deny"', '"decision":"allow"'), lines[2]!, lines[3]!]);
    expect(problems(home)).toEqual(['line 2: does not match its own hash: the line was edited']);
    writeLines(home, [lines[0]!, rehash(lines[1]!.replace('"decision":"deny"', '"decision":"allow"')), lines[2]!, lines[3]!]);
    expect(problems(home)).toEqual(['line 3: does not chain to line 2: line 2 was rewritten or replaced']);
    writeLines(home, [lines[0]!, 'not json at all', lines[2]!, lines[3]!]);
    expect(problems(home)).toEqual(['line 2: is not an audit entry: edited or corrupted']);
  });

  it('detects a deleted middle line and reordered lines', () => {
    const { home, lines } = logOf(5);
    writeLines(home, [lines[0]!, lines[1]!, lines[3]!, lines[4]!]);
    expect(problems(home)).toEqual(['line 3: is entry 4 where entry 3 belongs: entries were deleted, inserted or reordered']);
    writeLines(home, [lines[0]!, lines[2]!, lines[1]!, lines[3]!, lines[4]!]);
    expect(problems(home)).toEqual([
      'line 2: is entry 3 where entry 2 belongs: entries were deleted, inserted or reordered',
      'line 3: is entry 2 where entry 4 belongs: entries were deleted, inserted or reordered',
      'line 4: is entry 4 where entry 3 belongs: entries were deleted, inserted or reordered',
    ]);
  });

  it('detects truncation at the end against the head file, a missing head, and a cut last line', () => {
    const { home, lines } = logOf(5);
    writeLines(home, lines.slice(0, 3));
    expect(problems(home)).toEqual(['log: audit.log.head records 5 entries but the log ends at entry 3: it was truncated (the last 2 removed)']);
    unlinkSync(auditPaths(home).head);
    expect(problems(home)).toEqual(['log: audit.log.head is missing: whether the log was cut short cannot be checked']);

    const cut = logOf(3);
    const text = readFileSync(auditPaths(cut.home).log, 'utf8');
    writeFileSync(auditPaths(cut.home).log, text.slice(0, text.length - 40));
    expect(problems(cut.home)).toEqual(['line 3: the last line is incomplete: an interrupted write, or the log was cut short', 'log: audit.log.head records 3 entries but the log ends at entry 2: it was truncated (the last 1 removed)']);

    const replaced = logOf(3);
    writeLines(replaced.home, [...replaced.lines.slice(0, 2), rehash(replaced.lines[2]!.replace('"pid":1', '"pid":2'))]);
    expect(problems(replaced.home)).toEqual(['log: the last entry is not the one audit.log.head records: the end of the log was replaced']);

    const gone = logOf(2);
    unlinkSync(auditPaths(gone.home).log);
    expect(problems(gone.home)).toEqual(['log: audit.log is missing but audit.log.head records 2 entries: the log was deleted']);
  });

  it('keeps a gap visible: the line appended after a truncation chains from the head, not from the cut log', () => {
    const { home, lines } = logOf(4);
    writeLines(home, lines.slice(0, 2));
    appendAudit(home, fields('after'));
    expect(problems(home)).toEqual(['line 3: is entry 5 where entry 3 belongs: entries were deleted, inserted or reordered']);
  });

  it('accepts a head that trails by an interrupted append, and the next append continues the log', () => {
    const { home } = logOf(2);
    const { head } = auditPaths(home);
    const saved = join(tmp(), 'head');
    copyFileSync(head, saved);
    appendAudit(home, fields('third'));
    copyFileSync(saved, head); // as if the process died between the two writes
    expect(verifyAudit(home)).toMatchObject({ ok: true, entries: 3, notes: ['audit.log.head trails the log by 1 entry (an append interrupted before the head was updated)'] });
    appendAudit(home, fields('fourth'));
    expect(verifyAudit(home)).toMatchObject({ ok: true, entries: 4, notes: [] });
  });

  it('--anchor proves an earlier entry is still in the chain', () => {
    const { home, lines } = logOf(3);
    const second = readAudit(home)[1]!.hash;
    expect(problems(home, second)).toEqual([]);
    // rewrite the whole history consistently (possible without a key) and the anchor is gone
    const forged = [rehash(lines[0]!.replace('"pid":1', '"pid":9'))];
    expect(problems(home, 'f'.repeat(64))).toEqual([`log: no entry has the anchor hash ${'f'.repeat(64)}: the history up to it was rewritten (or the hash belongs to another log)`]);
    const other = tmp();
    mkdirSync(other, { recursive: true });
    writeLines(other, forged);
    writeFileSync(auditPaths(other).head, JSON.stringify({ v: 1, count: 1, hash: readAudit(other)[0]!.hash }));
    expect(problems(other)).toEqual([]);
    expect(problems(other, second)).toHaveLength(1);
  });

  it('clips long fields so one line stays small', () => {
    const home = tmp();
    const e = appendAudit(home, { ...fields('send'), peers: Array.from({ length: 80 }, (_, i) => `${'p'.repeat(300)}${i}`) });
    expect(e.seq).toBe(1);
    const stored = readAudit(home)[0]!;
    expect(stored.peers).toHaveLength(50);
    expect(stored.peers[0]!.length).toBe(257);
    expect(verifyAudit(home).ok).toBe(true);
  });
});
