import type { BenchPeer } from '../transports/transport.js';
import { Tracker, payload, randomOther } from './measure.js';

export interface SaturationOptions {
  window: number;
  seconds: number;
  size: number;
  /** Seconds of the same closed loop before the measured one (not counted). */
  warmupSeconds: number;
  log: (line: string) => void;
}

/** Closed loop: each peer keeps `window` unacked DMs in flight for `seconds`; the highest delivered rate. */
export async function saturation(peers: BenchPeer[], o: SaturationOptions) {
  if (o.warmupSeconds > 0) {
    o.log(`  warm-up: ${o.warmupSeconds} s`);
    await closedLoop(peers, { ...o, seconds: o.warmupSeconds }, 'w');
  }
  return closedLoop(peers, o, 's');
}

async function closedLoop(peers: BenchPeer[], o: SaturationOptions, prefix: string) {
  const tracker = new Tracker();
  tracker.attach(peers);
  let seq = 0;
  let running = true;
  const start = performance.now();
  const loops = peers.flatMap((peer, from) =>
    Array.from({ length: o.window }, async () => {
      while (running) await tracker.send(peer, randomOther(from, peers.length), payload(`${prefix}${seq++}`, o.size)).catch(() => undefined);
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
  tracker.detach();
  return { ...summary, messages: null, window: o.window, throughput_msgs_s: Math.round(deliveredAtStop / seconds) };
}
