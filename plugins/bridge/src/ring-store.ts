import type { EpochKeyring, KeyringSnapshot } from '@claudemesh/core';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How long a changed keyring waits before it is written (changes meanwhile go in the same write). */
const SAVE_DELAY_MS = 1000;

/**
 * The bridge's keyrings on disk, one file per mesh under `<home>/bridge/keyrings/` (mode 0600): a
 * keyring is written when its epochs changed, at most every second, and at stop. A lost write costs
 * nothing but a sync: the broker keeps every seal, and the bridge fetches what it lacks.
 */
export class RingStore {
  private readonly dir: string;
  private readonly written = new Map<string, string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** The keyring of each mesh loaded here (all are written at stop). */
  private readonly rings = new Map<string, EpochKeyring>();

  constructor(home: string) {
    this.dir = join(home, 'bridge', 'keyrings');
  }

  /** Restores what was kept for a mesh into `ring` (nothing on a first start). */
  load(meshId: string, ring: EpochKeyring): void {
    this.rings.set(meshId, ring);
    try {
      ring.restore(JSON.parse(readFileSync(this.file(meshId), 'utf8')) as KeyringSnapshot);
    } catch {
      // First start, or nothing kept: synced from the broker as messages need keys.
    }
  }

  /** Writes the mesh's keyring within SAVE_DELAY_MS. */
  save(meshId: string, ring: EpochKeyring): void {
    if (this.timers.has(meshId)) return;
    this.rings.set(meshId, ring);
    this.timers.set(meshId, setTimeout(() => {
      this.timers.delete(meshId);
      this.write(meshId, ring);
    }, SAVE_DELAY_MS));
  }

  /** Writes every keyring that changed since it was last written, now (at stop). */
  flush(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const [meshId, ring] of this.rings) this.write(meshId, ring);
  }

  private file(meshId: string): string {
    return join(this.dir, `${meshId}.json`);
  }

  private write(meshId: string, ring: EpochKeyring): void {
    const snapshot = JSON.stringify(ring.snapshot());
    if (this.written.get(meshId) === snapshot) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = this.file(meshId);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, snapshot, { mode: 0o600 });
    renameSync(tmp, file);
    this.written.set(meshId, snapshot);
  }
}
