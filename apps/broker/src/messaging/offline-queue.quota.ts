import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { MessageStore } from './message.store.js';

/** A recipient's totals are read again when older than this, so the estimate cannot drift far. */
const REFRESH_MS = 60_000;
/** A refusal needs totals read at most this long ago; a full recipient costs one query a second. */
const RECHECK_MS = 1_000;

interface Totals {
  count: number;
  bytes: number;
  readAt: number;
}

/**
 * The per-recipient offline-queue quota (docs/protocol.md §7.5): messages and ciphertext bytes in
 * state `queued` for one member. Totals are read from the database once, then counted up by the
 * sends this node admits (confirmations are not counted down, so the estimate only errs high); a
 * recipient is refused only on totals read within the last second, so an estimate that erred high
 * costs a query, never a wrong refusal. Several broker nodes each count their own admissions until
 * the next read, so the quota holds approximately there.
 */
@Injectable()
export class OfflineQueueQuota implements OnModuleDestroy {
  private readonly totals = new Map<string, Totals>();
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
    await this.read(recipients.filter((r) => !this.fits(r, bytes) && this.stale(r, now, RECHECK_MS)));
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

  private fits(recipient: string, bytes: number): boolean {
    const t = this.totals.get(recipient);
    return !t || (t.count + 1 <= this.maxMessages && t.bytes + bytes <= this.maxBytes);
  }

  private stale(recipient: string, now: number, maxAgeMs: number): boolean {
    const t = this.totals.get(recipient);
    return !t || now - t.readAt > maxAgeMs;
  }

  private async read(recipients: string[]): Promise<void> {
    if (recipients.length === 0) return;
    const readAt = Date.now();
    const found = await this.store.queuedTotals(recipients);
    for (const r of recipients) this.totals.set(r, { ...(found.get(r) ?? { count: 0, bytes: 0 }), readAt });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [r, t] of this.totals) if (now - t.readAt > REFRESH_MS) this.totals.delete(r);
  }
}
