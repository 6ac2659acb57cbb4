import type { Ack } from './types.js';

interface PendingSend<A> {
  frame: string;
  sentAt: number;
  /** Set while the broker asked this send to wait (E_RATE_LIMITED): it goes out when the timer fires. */
  retryTimer: NodeJS.Timeout | null;
  /** Every caller waiting on this client id (an explicit retry joins the original send). */
  waiters: Array<{ resolve: (ack: A) => void; reject: (err: Error) => void }>;
}

/**
 * Sends the broker has not acked yet, by client id, in first-sent order. Each is (re)written
 * through `write` while connected; the client resends the stale ones and all of them after a
 * reconnect, under the same id, until the ack comes. `send`'s `ack` by default; `topic_ack` for
 * topic_send.
 */
export class UnackedSends<A extends { id: string } = Ack> {
  private readonly pending = new Map<string, PendingSend<A>>();

  constructor(
    private readonly write: (frame: string) => void,
    private readonly canWrite: () => boolean,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  /** Resolves with the ack; a second call with the same id joins the first and sends it again. */
  add(id: string, frame: string): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      let entry = this.pending.get(id);
      if (entry) entry.waiters.push({ resolve, reject });
      else this.pending.set(id, (entry = { frame, sentAt: 0, retryTimer: null, waiters: [{ resolve, reject }] }));
      if (!entry.retryTimer) this.transmit(entry);
    });
  }

  acked(ack: A): void {
    const entry = this.pending.get(ack.id);
    if (!entry) return;
    this.forget(ack.id, entry);
    for (const w of entry.waiters) w.resolve(ack);
  }

  /** A permanent refusal: the send's callers get `err` and it is not retried. */
  fail(id: string, err: Error): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.forget(id, entry);
    for (const w of entry.waiters) w.reject(err);
  }

  failAll(err: Error): void {
    for (const [id, entry] of this.pending) {
      this.forget(id, entry);
      for (const w of entry.waiters) w.reject(err);
    }
  }

  /**
   * The broker refused the send for now (E_RATE_LIMITED): it is written again, under the same id,
   * once `ms` have passed, and not before (the stale-send resend skips it meanwhile).
   */
  retryAfter(id: string, ms: number): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    if (entry.retryTimer) clearTimeout(entry.retryTimer);
    entry.retryTimer = setTimeout(() => {
      entry.retryTimer = null;
      if (this.pending.get(id) === entry) this.transmit(entry);
    }, ms);
  }

  /** Writes every send again (after hello_ack), in the order they were first sent. */
  resendAll(): void {
    for (const entry of this.pending.values()) {
      if (entry.retryTimer) clearTimeout(entry.retryTimer);
      entry.retryTimer = null;
      this.transmit(entry);
    }
  }

  /** Writes again the sends last written before `before` (ms epoch). */
  resendOlderThan(before: number): void {
    for (const entry of this.pending.values()) if (entry.sentAt < before && !entry.retryTimer) this.transmit(entry);
  }

  private forget(id: string, entry: PendingSend<A>): void {
    if (entry.retryTimer) clearTimeout(entry.retryTimer);
    this.pending.delete(id);
  }

  private transmit(entry: PendingSend<A>): void {
    if (!this.canWrite()) return; // sent on the next hello_ack
    entry.sentAt = Date.now();
    this.write(entry.frame);
  }
}
