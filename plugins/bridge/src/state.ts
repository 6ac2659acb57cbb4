import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** How long a moved cursor may wait before it is written. */
const FLUSH_MS = 200;

/**
 * What a bridge keeps across restarts in its home (`bridge/state.json`, 0600, replaced in one
 * rename): per lane, the id of the last source message it has dealt with; per mesh, its API key. A message is forwarded
 * before its lane's cursor moves past it, and forwarded under a client id derived from it, so a
 * crash between the two is answered by the broker as a duplicate, never stored twice.
 */
export class BridgeState {
  private readonly file: string;
  private cursors: Record<string, string>;
  /** The bridge's own API key per mesh (it joins its source topics with it). */
  private secrets: Record<string, string>;

  constructor(home: string) {
    this.file = join(home, 'bridge', 'state.json');
    try {
      const kept = JSON.parse(readFileSync(this.file, 'utf8')) as { cursors?: Record<string, string>; secrets?: Record<string, string> };
      this.cursors = kept.cursors ?? {};
      this.secrets = kept.secrets ?? {};
    } catch {
      this.cursors = {};
      this.secrets = {};
    }
  }

  secret(meshId: string): string | undefined {
    return this.secrets[meshId];
  }

  setSecret(meshId: string, secret: string): void {
    this.secrets[meshId] = secret;
    this.write();
  }

  cursor(lane: string): string | undefined {
    return this.cursors[lane];
  }

  /**
   * Moves a lane's cursor. Written within FLUSH_MS (or at `flush`), not per message: a crash loses at
   * most that much progress, and what is forwarded again is the broker's duplicate.
   */
  set(lane: string, id: string): void {
    this.cursors[lane] = id;
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Writes what is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.write();
  }

  private timer: NodeJS.Timeout | null = null;

  private write(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ v: 1, cursors: this.cursors, secrets: this.secrets }), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
