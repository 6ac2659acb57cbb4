import type { BenchPeer } from '../transports/transport.js';
import { Tracker, payload, randomOther } from './measure.js';

export interface SeedLoadOptions {
  messages: number;
  rate: number;
  size: number;
  timeoutMs: number;
  log: (line: string) => void;
}

/** Open loop: every peer sends `messages` DMs to random peers, at `rate` msg/s in total. */
export async function seedLoad(peers: BenchPeer[], o: SeedLoadOptions) {
  const tracker = new Tracker();
  tracker.attach(peers);
  const total = peers.length * o.messages;
  const intervalMs = 1000 / o.rate;
  const start = performance.now();
  let sent = 0;
  let lastLog = start;
  while (sent < total) {
    const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
    for (; sent < due; sent++) {
      const from = sent % peers.length;
      void tracker.send(peers[from]!, randomOther(from, peers.length), payload(`m${sent}`, o.size)).catch(() => undefined);
    }
    if (performance.now() - lastLog > 2000) {
      lastLog = performance.now();
      o.log(`  sent ${sent}/${total}, acked ${tracker.acked}, delivered ${tracker.delivered}`);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await tracker.waitDelivered(total, o.timeoutMs);
  return { messages: o.messages, ...tracker.summary(total, (performance.now() - start) / 1000) };
}
