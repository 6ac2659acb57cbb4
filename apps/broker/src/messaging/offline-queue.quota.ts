import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { MessageStore } from './message.store.js';

/** A recipient's totals are read again when older than this, so the estimate cannot drift far. */
const REFRESH_MS = 60_000;
/** A refusal needs totals read at most this long ago; a full recipient costs one query a second. */
const RECHECK_MS = 1_000;

interface Totals {
  /** As read from the database, plus what this node admitted since. */
  count: number;
  bytes: number;
  /** As read from the database. */
  read: { count: number; bytes: number };
  readAt: number;
}

/**
 * The per-recipient offline-queue quota (docs/protocol.md §7.5): messages and ciphertext bytes in
 * state `queued` for one member. Totals are read from the database once, then counted up by the
 * sends this node admits (confirmations are not counted down, so the estimate only errs high). A
 * recipient is refused only when totals read from the database within the last second leave no
 * room, so an estimate that erred high costs a query, never a refusal; confirmations from a
 * recipient at its quota drop its totals, so it takes messages again as soon as it has caught up.
 * Several broker nodes each count their own admissions until the next read, so there the quota
 * holds approximately.
 */
@Injectable()
export class OfflineQueueQuota implements OnModuleDestroy {
  private readonly totals = new Map<string, Totals>();
  /** Reads in progress: a send that needs one joins it, so sends resume in the order they came. */
  private readonly reading = new Map<string, Promise<void>>();
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly store: MessageStore,
    @Inject(BROKER_CONFIG) config: BrokerConfig,
  ) {
    this.maxMessages = config.limits.queueMaxMessages;
    this.maxBytes = config.limits.queueMaxBytes;
    this.sweeper = setInterval(() => this.sweep(), REFRESH_MS).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  /** Splits the recipients of a message of `bytes` ciphertext into those with room (counted in) and those without. */
  async admit(recipients: string[], bytes: number): Promise<{ admitted: string[]; full: string[] }> {
    const now = Date.now();
    await this.read(recipients.filter((r) => this.stale(r, now, REFRESH_MS)));
    // Past the estimate: refused only if a read of the last second already showed no room.
    await this.read(recipients.filter((r) => !this.fits(r, bytes) && (this.stale(r, now, RECHECK_MS) || this.fits(r, bytes, 'read'))));
    const admitted: string[] = [];
    const full: string[] = [];
    for (const r of recipients) {
      if (!this.fits(r, bytes)) {
        full.push(r);
        continue;
      }
      const t = this.totals.get(r)!;
      t.count += 1;
      t.bytes += bytes;
      admitted.push(r);
    }
    return { admitted, full };
  }

  /**
   * The recipient confirmed messages: if it was at its quota, its totals are read again on the next
   * send (far from the quota, nothing changes: online members confirm all the time).
   */
  released(recipient: string): void {
    if (this.totals.has(recipient) && (!this.fits(recipient, 0) || !this.fits(recipient, 0, 'read'))) this.totals.delete(recipient);
  }

  private fits(recipient: string, bytes: number, which: 'estimate' | 'read' = 'estimate'): boolean {
    const t = this.totals.get(recipient);
    if (!t) return true;
    const base = which === 'read' ? t.read : t;
    return base.count + 1 <= this.maxMessages && base.bytes + bytes <= this.maxBytes;
  }

  private stale(recipient: string, now: number, maxAgeMs: number): boolean {
    const t = this.totals.get(recipient);
    return !t || now - t.readAt > maxAgeMs;
  }

  private async read(recipients: string[]): Promise<void> {
    if (recipients.length === 0) return;
    const start = recipients.filter((r) => !this.reading.has(r));
    if (start.length > 0) {
      const readAt = Date.now();
      const done = this.store.queuedTotals(start).then((found) => {
        for (const r of start) {
          const read = found.get(r) ?? { count: 0, bytes: 0 };
          this.totals.set(r, { ...read, read, readAt });
        }
      });
      const settled = done.finally(() => {
        for (const r of start) if (this.reading.get(r) === settled) this.reading.delete(r);
      });
      for (const r of start) this.reading.set(r, settled);
    }
    await Promise.all(recipients.map((r) => this.reading.get(r)));
  }

  private sweep(): void {
    const now = Date.now();
    for (const [r, t] of this.totals) if (now - t.readAt > REFRESH_MS) this.totals.delete(r);
  }
}
