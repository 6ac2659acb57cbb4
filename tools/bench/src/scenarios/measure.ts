import { percentile, round } from '../stats.js';
import type { BenchPeer } from '../transports/transport.js';

/** Tracks each message from the send call to its arrival, by a unique token in its text. */
export class Tracker {
  private readonly sentAt = new Map<string, number>();
  readonly e2e: number[] = [];
  readonly ack: number[] = [];
  sent = 0;
  acked = 0;
  delivered = 0;
  duplicates = 0;
  private readonly seen = new Set<string>();
  private active = true;

  /** Stops counting (the peers' handlers stay attached but ignore further messages). */
  detach(): void {
    this.active = false;
    this.seen.clear();
    this.sentAt.clear();
  }

  /** Attaches to every peer; `fanout` > 1 means each message is expected that many times. */
  attach(peers: BenchPeer[]): void {
    for (const p of peers) {
      p.onMessage((text) => {
        if (!this.active) return;
        const token = tokenOf(text);
        const key = `${p.index}:${token}`;
        if (this.seen.has(key)) {
          this.duplicates += 1;
          return;
        }
        this.seen.add(key);
        const t0 = this.sentAt.get(token);
        if (t0 === undefined) return;
        this.delivered += 1;
        this.e2e.push(performance.now() - t0);
      });
    }
  }

  /** Sends and records; the returned promise settles on the ack. */
  send(from: BenchPeer, to: number | `@${string}`, text: string): Promise<void> {
    const t0 = performance.now();
    this.sentAt.set(tokenOf(text), t0);
    this.sent += 1;
    return from.send(to, text).then(() => {
      this.acked += 1;
      this.ack.push(performance.now() - t0);
    });
  }

  async waitDelivered(expected: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.delivered < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  /** Acks trail the pushes of their batch: waited for after the last delivery, so `acked` is final. */
  async waitAcked(expected: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.acked < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  summary(expected: number, seconds: number) {
    return {
      sent: this.sent,
      acked: this.acked,
      delivered: this.delivered,
      duplicates: this.duplicates,
      delivered_ratio: expected === 0 ? null : round(this.delivered / expected, 4),
      e2e_p50_ms: percentile(this.e2e, 50),
      e2e_p95_ms: percentile(this.e2e, 95),
      e2e_p99_ms: percentile(this.e2e, 99),
      e2e_max_ms: percentile(this.e2e, 100),
      ack_p50_ms: percentile(this.ack, 50),
      ack_p99_ms: percentile(this.ack, 99),
      throughput_msgs_s: round(this.delivered / seconds, 1),
      duration_s: round(seconds, 2),
    };
  }
}

/** The unique token a payload starts with (up to the first space). */
function tokenOf(text: string): string {
  const space = text.indexOf(' ');
  return space < 0 ? text : text.slice(0, space);
}

/** A payload of about `bytes` bytes that starts with a unique token. */
export function payload(token: string, bytes: number): string {
  return token.length >= bytes ? token : `${token} ${'x'.repeat(bytes - token.length - 1)}`;
}

export function randomOther(from: number, count: number): number {
  let to = Math.floor(Math.random() * (count - 1));
  if (to >= from) to += 1;
  return to;
}
