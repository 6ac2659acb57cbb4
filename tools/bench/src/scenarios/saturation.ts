import type { BenchPeer } from '../transports/transport.js';
import { Tracker, payload, randomOther } from './measure.js';

export interface SaturationOptions {
  window: number;
  seconds: number;
  size: number;
  log: (line: string) => void;
}

/** Closed loop: each peer keeps `window` unacked DMs in flight for `seconds`; the highest delivered rate. */
export async function saturation(peers: BenchPeer[], o: SaturationOptions) {
  const tracker = new Tracker();
  tracker.attach(peers);
  let seq = 0;
  let running = true;
  const start = performance.now();
  const loops = peers.flatMap((peer, from) =>
    Array.from({ length: o.window }, async () => {
      while (running) await tracker.send(peer, randomOther(from, peers.length), payload(`s${seq++}`, o.size)).catch(() => undefined);
    }),
  );
  const ticker = setInterval(() => o.log(`  delivered ${tracker.delivered} (${Math.round(tracker.delivered / ((performance.now() - start) / 1000))} msg/s)`), 2000);
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  running = false;
  const seconds = (performance.now() - start) / 1000;
  const deliveredAtStop = tracker.delivered;
  clearInterval(ticker);
  await Promise.all(loops);
  await tracker.waitDelivered(tracker.sent, 10_000);
  const summary = tracker.summary(tracker.sent, seconds);
  return { ...summary, messages: null, window: o.window, throughput_msgs_s: Math.round(deliveredAtStop / seconds) };
}
