import { MeshApi, createApiKey, createMesh } from '@claudemesh/core';
import { generateIdentity } from '@claudemesh/crypto';
import { PeakSampler } from '../process-stats.js';
import { round } from '../stats.js';
import type { MeshSystem } from '../transports/mesh.js';
import type { BenchPeer } from '../transports/transport.js';
import { fanout, type FanoutOptions } from './fanout.js';

const TOPIC = 'fanout';

/**
 * What the SSE side is measured against: WebSocket members of a topic (`#general`), published to
 * with `topic_send` and receiving `topic_message` pushes — the same publisher pattern, the same
 * number of receivers of every message, on the same broker process in the same run.
 */
export const WS_BASELINE = 'ws-topic-fanout';

export interface SseFanoutOptions extends FanoutOptions {
  /** Subscribers on each side (the publisher comes on top). */
  subscribers: number;
}

/** The publisher posts over REST; each subscriber is a REST-only human following the topic's SSE stream. */
class SsePublisher implements BenchPeer {
  readonly index = 0;
  constructor(private readonly api: MeshApi) {}
  async send(_to: number | `@${string}`, text: string): Promise<void> {
    await this.api.post(TOPIC, { text });
  }
  async joinGroup(): Promise<void> {}
  onMessage(): void {}
  async close(): Promise<void> {}
}

class SseSubscriber implements BenchPeer {
  private readonly handlers: Array<(text: string) => void> = [];
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  constructor(
    readonly index: number,
    private readonly api: MeshApi,
  ) {}

  /** Resolves once the stream answered 200 (the broker has attached it to the topic's feed). */
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const messages = this.api.stream(TOPIC, { signal: this.abort.signal, onOpen: () => resolve() });
      this.done = (async () => {
        for await (const { message } of messages) for (const h of this.handlers) h(message.text ?? '');
      })().catch((error: unknown) => {
        if (!this.abort.signal.aborted) reject(error);
      });
    });
  }

  async send(): Promise<void> {
    throw new Error('an SSE subscriber does not send');
  }
  async joinGroup(): Promise<void> {}
  onMessage(handler: (text: string) => void): void {
    this.handlers.push(handler);
  }
  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

async function mapLimit<T>(count: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

/** A mesh with a publisher key and `subscribers` REST-only humans, each streaming the topic. */
async function connectSse(sys: MeshSystem, subscribers: number): Promise<BenchPeer[]> {
  const owner = generateIdentity();
  const mesh = await createMesh(sys.url, { name: 'bench-sse', owner, displayName: 'owner', adminToken: sys.adminToken });
  const admin = await createApiKey(sys.url, owner, mesh.mesh_id, { label: 'bench publisher', capabilities: ['read', 'send', 'admin'] });
  const api = new MeshApi(sys.url, admin.secret);
  await api.createTopic({ name: TOPIC, encryption: 'plaintext' });
  const keys = await mapLimit(subscribers, 8, (i) => api.createApiKey({ label: `reader ${i}`, capabilities: ['read'], human: `reader-${i}` }));
  const subs = keys.map((k, i) => new SseSubscriber(i + 1, new MeshApi(sys.url, k.secret)));
  await mapLimit(subs.length, 16, (i) => subs[i]!.open());
  return [new SsePublisher(api), ...subs];
}

async function phase(sys: MeshSystem, peers: BenchPeer[], o: FanoutOptions): Promise<Record<string, unknown>> {
  const sampler = new PeakSampler(sys.serverPid);
  try {
    const result = await fanout(peers, o);
    return { ...result, ...sampler.stop() };
  } finally {
    sampler.stop();
    await Promise.all(peers.map((p) => p.close()));
  }
}

/**
 * One publisher, `subscribers` receivers, the same message count, window and size on both sides,
 * one broker: first WebSocket members of a topic, then SSE streams of a topic. Deliveries per
 * second and send-to-receipt latency for each, and their ratio (SSE / WS).
 */
export async function sseFanout(sys: MeshSystem, o: SseFanoutOptions): Promise<Record<string, unknown>> {
  o.log(`  ${WS_BASELINE}: 1 WebSocket publisher → #general followed by ${o.subscribers} WebSocket members`);
  const ws = await phase(sys, await sys.connect(o.subscribers + 1, { topic: 'general' }), o);
  o.log(`  sse-topic: 1 REST publisher → #${TOPIC} followed by ${o.subscribers} SSE streams`);
  const sse = await phase(sys, await connectSse(sys, o.subscribers), o);
  const sseRate = sse['throughput_msgs_s'] as number;
  const wsRate = ws['throughput_msgs_s'] as number;
  return {
    peers: o.subscribers + 1,
    messages: o.messages,
    subscribers: o.subscribers,
    delivered: sse['delivered'],
    delivered_ratio: sse['delivered_ratio'],
    e2e_p50_ms: sse['e2e_p50_ms'],
    e2e_p99_ms: sse['e2e_p99_ms'],
    ack_p99_ms: sse['ack_p99_ms'],
    throughput_msgs_s: sseRate,
    baseline_kind: WS_BASELINE,
    baseline_throughput_msgs_s: wsRate,
    ratio_to_baseline: wsRate ? round(sseRate / wsRate, 3) : null,
    target_ratio: 0.5,
    sse,
    baseline: ws,
  };
}
