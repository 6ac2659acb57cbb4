import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { withFileLock } from './file-lock.js';

/**
 * The audit log: $CLAUDEMESH_HOME/audit.log, one JSON object per line (NDJSON), one line per policy
 * decision. Each line carries `prev`, the hash of the line before it (GENESIS for the first), and
 * `hash`, the SHA-256 (hex) of its own text without the `"hash"` member:
 *
 *   {"seq":1,"ts":"…",…,"prev":"000…0"}          ← hashed as is
 *   {"seq":1,"ts":"…",…,"prev":"000…0","hash":"<sha256 of the line above>"}   ← what is written
 *
 * audit.log.head records the count and last hash, rewritten atomically (temp file + rename) with
 * every append, so a log cut short at the end no longer matches it. Appends take audit.log.lock,
 * so concurrent processes never chain two lines from the same predecessor.
 */
export const GENESIS = '0'.repeat(64);

export interface AuditFields {
  ts: string;
  source: 'cli' | 'fast' | 'mcp';
  pid: number;
  resource: string;
  verb: string;
  kind: string;
  mesh: string | null;
  mesh_id: string | null;
  peers: string[];
  mode: string;
  decision: 'allow' | 'deny' | 'plan';
  rule: string;
  /** How a prompt was answered: yes, no, --yes, no-tty; null when none was due. */
  prompt: string | null;
}

export interface AuditEntry extends AuditFields {
  seq: number;
  prev: string;
  hash: string;
}

interface Head {
  count: number;
  hash: string;
}

export const auditPaths = (home: string) => ({ log: join(home, 'audit.log'), head: join(home, 'audit.log.head'), lock: join(home, 'audit.log.lock') });

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const LINE = /^(\{.*),"hash":"([0-9a-f]{64})"\}$/s;
const MAX_TEXT = 256;
const MAX_PEERS = 50;

const clip = (s: string): string => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s);

function readHead(file: string): Head | null {
  try {
    const head = JSON.parse(readFileSync(file, 'utf8')) as Partial<Head>;
    return Number.isInteger(head.count) && typeof head.hash === 'string' ? { count: head.count!, hash: head.hash } : null;
  } catch {
    return null;
  }
}

/** The last complete line's seq and hash (read from the end: appends never read the whole log). */
function readTail(file: string): { last: Head | null; size: number; endsWithNewline: boolean } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { last: null, size: 0, endsWithNewline: true };
  }
  try {
    const size = fstatSync(fd).size;
    // Lines are well under 4 KiB (fields are clipped); read more only if one is not.
    for (let length = Math.min(size, 4096); ; length = Math.min(size, length * 4)) {
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, size - length);
      const text = buf.toString('utf8');
      const endsWithNewline = size === 0 || text.endsWith('\n');
      const lines = text.split('\n');
      lines.pop(); // the '' after the last newline, or an incomplete line (nobody's predecessor)
      // The first piece of a partial read may be cut mid-line: it counts only if the read began at 0.
      const line = lines.length > (length < size ? 1 : 0) ? lines.at(-1) : undefined;
      if (line === undefined && length < size) continue;
      if (line === undefined) return { last: null, size, endsWithNewline };
      try {
        const entry = JSON.parse(line) as Partial<AuditEntry>;
        return { last: Number.isInteger(entry.seq) && typeof entry.hash === 'string' ? { count: entry.seq!, hash: entry.hash } : null, size, endsWithNewline };
      } catch {
        return { last: null, size, endsWithNewline };
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** One line: the fields in a fixed order, chained to `prev`, with its own hash last. */
export function formatEntry(seq: number, fields: AuditFields, prev: string): { line: string; hash: string } {
  const body = JSON.stringify({
    seq,
    ts: fields.ts,
    source: fields.source,
    pid: fields.pid,
    resource: fields.resource,
    verb: fields.verb,
    kind: fields.kind,
    mesh: fields.mesh === null ? null : clip(fields.mesh),
    mesh_id: fields.mesh_id,
    peers: fields.peers.slice(0, MAX_PEERS).map(clip),
    mode: fields.mode,
    decision: fields.decision,
    rule: clip(fields.rule),
    prompt: fields.prompt,
    prev,
  });
  const hash = sha256(body);
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}`, hash };
}

/**
 * Appends one decision under the lock. The predecessor is the head file's last hash, or the log's
 * last line when the head trails it (an append interrupted between the two writes). A log cut
 * short is not "healed": the next line chains from the head, so the gap stays visible.
 */
export function appendAudit(home: string, fields: AuditFields): AuditEntry {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const paths = auditPaths(home);
  return withFileLock(paths.lock, () => {
    const head = readHead(paths.head);
    const tail = readTail(paths.log);
    const last = tail.last;
    const from = last && (!head || last.count > head.count || (last.count === head.count && last.hash === head.hash)) ? last : (head ?? { count: 0, hash: GENESIS });
    const seq = from.count + 1;
    const { line, hash } = formatEntry(seq, fields, from.hash);
    const fd = openSync(paths.log, 'a', 0o600);
    try {
      writeSync(fd, `${tail.endsWithNewline ? '' : '\n'}${line}\n`);
    } finally {
      closeSync(fd);
    }
    const tmp = `${paths.head}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ v: 1, count: seq, hash })}\n`, { mode: 0o600 });
    renameSync(tmp, paths.head);
    return { ...fields, seq, prev: from.hash, hash } as AuditEntry;
  });
}

export interface AuditProblem {
  /** 1-based line of audit.log; null for the log as a whole (its end, the head file). */
  line: number | null;
  what: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  /** The last entry's hash (GENESIS for an empty log): record it elsewhere to anchor this history. */
  last: string;
  problems: AuditProblem[];
  notes: string[];
}

const MAX_PROBLEMS = 20;

/** Checks every line's hash and link, and the end of the log against the head file. */
export function verifyAudit(home: string, options: { anchor?: string } = {}): AuditVerification {
  const paths = auditPaths(home);
  const problems: AuditProblem[] = [];
  const notes: string[] = [];
  const problem = (line: number | null, what: string): void => void (problems.length < MAX_PROBLEMS && problems.push({ line, what }));
  const head = readHead(paths.head);
  const headExists = existsSync(paths.head);
  if (!existsSync(paths.log)) {
    if (headExists) problem(null, `audit.log is missing but audit.log.head records ${head?.count ?? '?'} entries: the log was deleted`);
    return { ok: problems.length === 0, entries: 0, last: GENESIS, problems, notes };
  }
  const text = readFileSync(paths.log, 'utf8');
  const lines = text.split('\n');
  const complete = text === '' || text.endsWith('\n');
  if (complete) lines.pop();
  const hashes: string[] = [];
  const bySeq = new Map<number, string>();
  let lastSeq = 0;
  let expectedPrev: string | null = GENESIS;
  let expectedSeq = 1;
  lines.forEach((line, i) => {
    const n = i + 1;
    if (!complete && n === lines.length) {
      problem(n, 'the last line is incomplete: an interrupted write, or the log was cut short');
      return;
    }
    const m = LINE.exec(line);
    let entry: Partial<AuditEntry> | null = null;
    try {
      entry = m ? (JSON.parse(line) as Partial<AuditEntry>) : null;
    } catch {
      entry = null;
    }
    if (!m || !entry || typeof entry.prev !== 'string' || !Number.isInteger(entry.seq)) {
      problem(n, 'is not an audit entry: edited or corrupted');
      expectedPrev = null;
      expectedSeq++;
      return;
    }
    const claimed = m[2]!;
    if (sha256(`${m[1]}}`) !== claimed) problem(n, 'does not match its own hash: the line was edited');
    if (expectedPrev !== null) {
      if (entry.seq !== expectedSeq) problem(n, `is entry ${entry.seq} where entry ${expectedSeq} belongs: entries were deleted, inserted or reordered`);
      else if (entry.prev !== expectedPrev) problem(n, `does not chain to ${n === 1 ? 'the start of the log' : `line ${n - 1}`}: ${n === 1 ? 'the log does not begin here' : `line ${n - 1} was rewritten or replaced`}`);
    }
    hashes.push(claimed);
    bySeq.set(entry.seq!, claimed);
    lastSeq = entry.seq!;
    expectedPrev = claimed;
    expectedSeq = entry.seq! + 1;
  });
  const count = lines.length - (complete ? 0 : 1);
  const last = hashes.at(-1) ?? GENESIS;
  if (!head) {
    if (count > 0) problem(null, `audit.log.head is ${headExists ? 'unreadable' : 'missing'}: whether the log was cut short cannot be checked`);
  } else if (head.count > lastSeq) {
    problem(null, `audit.log.head records ${head.count} entries but the log ends at entry ${lastSeq}: it was truncated (the last ${head.count - lastSeq} removed)`);
  } else if (head.count === lastSeq && head.hash !== last) {
    problem(null, 'the last entry is not the one audit.log.head records: the end of the log was replaced');
  } else if (head.count < lastSeq) {
    const lag = lastSeq - head.count;
    if (bySeq.get(head.count) === head.hash) notes.push(`audit.log.head trails the log by ${lag} entr${lag === 1 ? 'y' : 'ies'} (an append interrupted before the head was updated)`);
    else problem(null, `entry ${head.count} is not the one audit.log.head records: the log was rewritten`);
  }
  if (options.anchor !== undefined && !hashes.includes(options.anchor)) {
    problem(null, `no entry has the anchor hash ${options.anchor}: the history up to it was rewritten (or the hash belongs to another log)`);
  }
  return { ok: problems.length === 0, entries: count, last, problems, notes };
}

/** Every parseable entry, oldest first (for `audit show`; verify is what checks them). */
export function readAudit(home: string): AuditEntry[] {
  let text: string;
  try {
    text = readFileSync(auditPaths(home).log, 'utf8');
  } catch {
    return [];
  }
  const entries: AuditEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      entries.push(JSON.parse(line) as AuditEntry);
    } catch {
      // shown as missing; `audit verify` names the line
    }
  }
  return entries;
}
