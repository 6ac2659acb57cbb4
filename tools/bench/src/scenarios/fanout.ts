import type { BenchPeer } from '../transports/transport.js';
import { Tracker, payload } from './measure.js';

export interface FanoutOptions {
  messages: number;
  window: number;
  size: number;
  timeoutMs: number;
  /** Messages of the same fan-out before the measured ones (not counted). */
  warmupMessages: number;
  log: (line: string) => void;
}

/** One publisher to an @group of every other peer; deliveries per second and their latency. */
export async function fanout(peers: BenchPeer[], o: FanoutOptions) {
  const [publisher, ...subscribers] = peers;
  for (const s of subscribers) await s.joinGroup('fanout');
  if (o.warmupMessages > 0) {
    o.log(`  warm-up: ${o.warmupMessages} messages`);
    await publish(publisher!, subscribers, { ...o, messages: o.warmupMessages }, 'w');
  }
  return publish(publisher!, subscribers, o, 'f');
}

async function publish(publisher: BenchPeer, subscribers: BenchPeer[], o: FanoutOptions, prefix: string) {
  const tracker = new Tracker();
  tracker.attach(subscribers);
  const start = performance.now();
  let seq = 0;
  await Promise.all(
    Array.from({ length: o.window }, async () => {
      while (seq < o.messages) await tracker.send(publisher, '@fanout', payload(`${prefix}${seq++}`, o.size));
    }),
  );
  const expected = o.messages * subscribers.length;
  await tracker.waitDelivered(expected, o.timeoutMs);
  const seconds = (performance.now() - start) / 1000;
  o.log(`  ${tracker.delivered}/${expected} deliveries`);
  tracker.detach();
  return { ...tracker.summary(expected, seconds), messages: o.messages, subscribers: subscribers.length };
}
