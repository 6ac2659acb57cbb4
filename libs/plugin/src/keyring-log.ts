import type { EpochKeyring, KeyringMark, KeyringSnapshot } from '@claudemesh/core';
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** How long a changed keyring waits before its change is written (changes meanwhile go in the same line). */
export const KEYRING_SAVE_DELAY_MS = 1000;
/** Lines appended to a log after which it is written again as one line (the whole keyring). */
export const KEYRING_COMPACT_AFTER = 512;

export interface KeyringLogOptions {
  /** The log of a mesh's keyring (one per mesh). */
  file: (meshId: string) => string;
  /** Where an earlier version kept the whole keyring as one JSON snapshot: read when there is no log, removed once the log holds it. */
  legacyFile?: (meshId: string) => string;
  saveDelayMs?: number;
  compactAfter?: number;
}

/** What a load found: the lines read, those that did not parse (a write cut short by a crash), and whether it came from the legacy file. */
export interface KeyringLoad {
  lines: number;
  skipped: number;
  legacy: boolean;
}

/**
 * A long-lived plugin's keyrings on disk (docs/plugins.md "State"), one **append-only log** per mesh
 * (mode 0600, its directory 0700): each line is what the keyring gained since the line before it —
 * the manifests past the chains written so far and the keys not written yet (`changesSince`) — so a
 * save costs the size of the change, not of the keyring. A topic rotates every 100 messages, so a
 * keyring grows for as long as the plugin runs; writing all of it at each rotation (once a second
 * on a busy bridge) cost more with every hour. After `compactAfter` lines, or when a load found a
 * line cut short or the legacy snapshot, the next save writes the whole keyring as one line (a
 * temporary file and a rename). Loading joins the lines and restores the result, verified like
 * anything the broker sends; a change lost in a crash costs only a sync from the broker, which
 * keeps every seal.
 */
export class KeyringLog {
  private readonly marks = new Map<string, KeyringMark>();
  private readonly lines = new Map<string, number>();
  private readonly compact = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** The keyring of each mesh loaded or saved here (all are written at flush). */
  private readonly rings = new Map<string, EpochKeyring>();
  private readonly saveDelayMs: number;
  private readonly compactAfter: number;

  constructor(private readonly o: KeyringLogOptions) {
    this.saveDelayMs = o.saveDelayMs ?? KEYRING_SAVE_DELAY_MS;
    this.compactAfter = o.compactAfter ?? KEYRING_COMPACT_AFTER;
  }

  /** Restores what was kept for a mesh into `ring` (nothing on a first start). */
  load(meshId: string, ring: EpochKeyring): KeyringLoad {
    this.rings.set(meshId, ring);
    const result: KeyringLoad = { lines: 0, skipped: 0, legacy: false };
    const parts: KeyringSnapshot[] = [];
    const text = readOrNull(this.o.file(meshId));
    if (text !== null) {
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        result.lines += 1;
        try {
          parts.push(JSON.parse(line) as KeyringSnapshot);
        } catch {
          result.skipped += 1;
        }
      }
    } else if (this.o.legacyFile) {
      const legacy = readOrNull(this.o.legacyFile(meshId));
      if (legacy !== null) {
        result.legacy = true;
        try {
          parts.push(JSON.parse(legacy) as KeyringSnapshot);
        } catch {
          result.skipped += 1;
        }
      }
    }
    ring.restore(joinParts(parts));
    // The log holds what the ring now holds: later saves append only what comes after.
    const mark: KeyringMark = new Map();
    ring.changesSince(mark);
    this.marks.set(meshId, mark);
    this.lines.set(meshId, result.lines);
    if (result.skipped > 0 || result.legacy) this.compact.add(meshId);
    return result;
  }

  /** Writes the mesh's change within the save delay. */
  save(meshId: string, ring: EpochKeyring): void {
    this.rings.set(meshId, ring);
    if (this.timers.has(meshId)) return;
    this.timers.set(meshId, setTimeout(() => {
      this.timers.delete(meshId);
      this.write(meshId, ring);
    }, this.saveDelayMs));
  }

  /** Writes every keyring's change now (at stop). */
  flush(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const [meshId, ring] of this.rings) this.write(meshId, ring);
  }

  private write(meshId: string, ring: EpochKeyring): void {
    const file = this.o.file(meshId);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (this.compact.has(meshId) || (this.lines.get(meshId) ?? 0) >= this.compactAfter) {
      // The whole keyring as one line, replacing the log in one rename.
      const mark: KeyringMark = new Map();
      const all = ring.changesSince(mark) ?? { v: 1, scopes: {} };
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(all)}\n`, { mode: 0o600 });
      renameSync(tmp, file);
      this.marks.set(meshId, mark);
      this.lines.set(meshId, 1);
      this.compact.delete(meshId);
      if (this.o.legacyFile) rmSync(this.o.legacyFile(meshId), { force: true });
      return;
    }
    let mark = this.marks.get(meshId);
    if (!mark) {
      mark = new Map();
      this.marks.set(meshId, mark);
    }
    const change = ring.changesSince(mark);
    if (change === null) return;
    appendFileSync(file, `${JSON.stringify(change)}\n`, { mode: 0o600 });
    this.lines.set(meshId, (this.lines.get(meshId) ?? 0) + 1);
  }
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * The lines of a log as one snapshot: each manifest in its epoch's place, keys merged. A chain
 * stops at its first missing epoch (nothing after it could be verified); a key is checked against
 * its manifest by `restore`.
 */
export function joinParts(parts: KeyringSnapshot[]): KeyringSnapshot {
  const scopes: KeyringSnapshot['scopes'] = {};
  for (const part of parts) {
    if (part?.v !== 1 || typeof part.scopes !== 'object' || part.scopes === null) continue;
    for (const [scope, { chain, keys }] of Object.entries(part.scopes)) {
      const s = (scopes[scope] ??= { chain: [], keys: {} });
      for (const signed of Array.isArray(chain) ? chain : []) {
        const epoch = signed?.manifest?.epoch;
        if (Number.isInteger(epoch) && epoch >= 1) s.chain[epoch - 1] = signed;
      }
      Object.assign(s.keys, keys);
    }
  }
  for (const s of Object.values(scopes)) {
    const hole = s.chain.findIndex((m) => m === undefined);
    if (hole >= 0) s.chain.length = hole;
  }
  return { v: 1, scopes };
}
