import type { BenchPeer } from '../transports/transport.js';
import { Tracker, payload, randomOther } from './measure.js';

export interface SeedLoadOptions {
  messages: number;
  rate: number;
  size: number;
  timeoutMs: number;
  /** Seconds of the same traffic before the measured phase (not counted; reported apart). */
  warmupSeconds: number;
  log: (line: string) => void;
}

/**
 * Open loop: every peer sends `messages` DMs to random peers, at `rate` msg/s in total. A warm-up
 * of the same traffic runs first, so the figures describe a running broker rather than V8's and
 * the database's first seconds; the warm-up's own figures are reported beside them.
 */
export async function seedLoad(peers: BenchPeer[], o: SeedLoadOptions) {
  let warmup = null;
  if (o.warmupSeconds > 0) {
    const count = Math.round(o.rate * o.warmupSeconds);
    o.log(`  warm-up: ${count} messages`);
    const w = await openLoop(peers, new Tracker(), count, 'w', o);
    warmup = { messages: w.sent, delivered: w.delivered, e2e_p50_ms: w.e2e_p50_ms, e2e_p99_ms: w.e2e_p99_ms, seconds: o.warmupSeconds };
  }
  return { messages: o.messages, ...(await openLoop(peers, new Tracker(), peers.length * o.messages, 'm', o)), warmup };
}

async function openLoop(peers: BenchPeer[], tracker: Tracker, total: number, prefix: string, o: SeedLoadOptions) {
  tracker.attach(peers);
  const intervalMs = 1000 / o.rate;
  const start = performance.now();
  let sent = 0;
  let lastLog = start;
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
    for (; sent < due; sent++) {
      const from = sent % peers.length;
      void tracker.send(peers[from]!, randomOther(from, peers.length), payload(`${prefix}${sent}`, o.size)).catch(() => undefined);
    }
    if (performance.now() - lastLog > 2000) {
      lastLog = performance.now();
      o.log(`  sent ${sent}/${total}, acked ${tracker.acked}, delivered ${tracker.delivered}`);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await tracker.waitDelivered(total, o.timeoutMs);
  // Throughput counts to the last delivery; the acks still on their way are then waited for.
  const seconds = (performance.now() - start) / 1000;
  await tracker.waitAcked(total, o.timeoutMs);
  const summary = tracker.summary(total, seconds);
  tracker.detach();
  return summary;
}
