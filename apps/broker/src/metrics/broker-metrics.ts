import { CLIENT_FRAME_SCHEMAS, ERROR_CODES, HANDOFF_BUCKETS_MS, SERVER_FRAME_SCHEMAS } from '@claudemesh/core';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What `CLAUDEMESH_METRICS` and `CLAUDEMESH_METRICS_TOKEN` set (broker.config.ts). */
export interface MetricsSettings {
  enabled: boolean;
  /** Unset: `/metrics` answers loopback clients only. */
  token: string | undefined;
}

/** Counts the frames one WebSocket writes (limits/outbound.ts); no-op when metrics are off. */
export interface FrameMeter {
  frameOut(frame: string): void;
}

export type MessageKind = 'accepted' | 'delivered' | 'read';

/** A live value read at scrape time, never on the hot path. */
export type GaugeSource = 'ws_connections' | 'sse_streams' | 'offline_queue_depth';

/** Frames that did not decode, or a type outside the protocol (should not happen for server frames). */
const INVALID = 'invalid';
const OTHER = 'other';
/** serverFrame() writes `{"type":"<type>",…`, and an error frame `{"type":"error","code":"<code>",…`. */
const TYPE_PREFIX = '{"type":"';
const ERROR_PREFIX = '{"type":"error","code":"';

type Child = { inc(value?: number): void };

/** A labelled child, exported at 0 from the start (so a rate() sees its first increment). */
function child<L extends string>(counter: Counter<L>, labels: Partial<Record<L, string>>): Child {
  counter.inc(labels, 0);
  return counter.labels(labels);
}

/**
 * The broker's Prometheus series (docs/self-hosting.md "Metrics"), in a registry of its own (one per
 * broker, so several in one process do not mix). Every labelled child is created up front over a
 * closed set of values (frame types, error codes, message kinds): a frame costs a map lookup and
 * an increment, nothing async, and no label ever carries a mesh, member, name, key or id.
 * When metrics are off nothing is registered or collected and every method returns at once.
 */
export class BrokerMetrics implements FrameMeter {
  readonly enabled: boolean;
  readonly registry = new Registry();
  private readonly framesIn = new Map<string, Child>();
  private readonly framesOut = new Map<string, Child>();
  private readonly errors = new Map<string, Child>();
  private readonly messages = new Map<MessageKind, Child>();
  private readonly sources = new Map<GaugeSource, () => number | Promise<number>>();
  private readonly commitBatch: Histogram | null = null;
  private readonly commitSeconds: Histogram | null = null;
  private readonly handoffSeconds: Histogram | null = null;

  constructor(settings: Pick<MetricsSettings, 'enabled'>) {
    this.enabled = settings.enabled;
    if (!this.enabled) return;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    const frames = new Counter({ name: 'claudemesh_frames_total', help: 'WebSocket frames, by direction (in: from clients, out: to clients) and frame type; type "invalid" is a client frame that did not decode', labelNames: ['direction', 'type'] as const, registers });
    for (const type of [...Object.keys(CLIENT_FRAME_SCHEMAS), INVALID]) this.framesIn.set(type, child(frames, { direction: 'in', type }));
    for (const type of [...Object.keys(SERVER_FRAME_SCHEMAS), OTHER]) this.framesOut.set(type, child(frames, { direction: 'out', type }));

    const errors = new Counter({ name: 'claudemesh_errors_total', help: 'Errors answered, by protocol error code: WebSocket error frames and REST error responses', labelNames: ['code'] as const, registers });
    for (const code of [...Object.keys(ERROR_CODES), OTHER]) this.errors.set(code, child(errors, { code }));

    const messages = new Counter({ name: 'claudemesh_messages_total', help: 'Direct and group messages (WebSocket send frames): accepted (stored, not a duplicate), and deliveries that became delivered or read', labelNames: ['kind'] as const, registers });
    for (const kind of ['accepted', 'delivered', 'read'] as const) this.messages.set(kind, child(messages, { kind }));

    this.commitBatch = new Histogram({ name: 'claudemesh_topic_commit_batch_size', help: 'Topic posts written by one group commit (one transaction)', buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers });
    this.commitSeconds = new Histogram({ name: 'claudemesh_topic_commit_seconds', help: 'Duration of one group commit of topic posts, from its start to its commit or failure', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });

    this.handoffSeconds = handoffHistogram(registers);

    const sources = this.sources;
    const gauge = (name: string, help: string, source: GaugeSource) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const read = sources.get(source);
          if (read) this.set(await read());
        },
      });
    gauge('claudemesh_ws_connections', 'Authenticated WebSocket sessions on this node (hello completed)', 'ws_connections');
    gauge('claudemesh_sse_streams', 'Open SSE topic streams on this node', 'sse_streams');
    gauge('claudemesh_offline_queue_depth', 'Deliveries waiting in the offline queue (state queued), over all members (read from the database at scrape time)', 'offline_queue_depth');
  }

  /** Where a gauge reads its value at scrape time. */
  source(name: GaugeSource, read: () => number | Promise<number>): void {
    if (this.enabled) this.sources.set(name, read);
  }

  /** A frame read from a client: its decoded type, or undefined when it did not decode. */
  frameIn(type: string | undefined): void {
    if (!this.enabled) return;
    (this.framesIn.get(type ?? INVALID) ?? this.framesIn.get(INVALID)!).inc();
  }

  /** A frame written to a client, as serverFrame() encoded it; an error frame counts its code too. */
  frameOut(frame: string): void {
    if (!this.enabled) return;
    const type = frame.startsWith(TYPE_PREFIX) ? frame.slice(TYPE_PREFIX.length, frame.indexOf('"', TYPE_PREFIX.length)) : OTHER;
    (this.framesOut.get(type) ?? this.framesOut.get(OTHER)!).inc();
    if (type === 'error') this.error(frame.startsWith(ERROR_PREFIX) ? frame.slice(ERROR_PREFIX.length, frame.indexOf('"', ERROR_PREFIX.length)) : OTHER);
  }

  /** An error answered (a WebSocket error frame, or a REST error response). */
  error(code: string): void {
    if (!this.enabled) return;
    (this.errors.get(code) ?? this.errors.get(OTHER)!).inc();
  }

  message(kind: MessageKind, n = 1): void {
    if (this.enabled && n > 0) this.messages.get(kind)!.inc(n);
  }

  /** A delivery confirmed `seconds` after its message was accepted (end-to-end handoff). */
  handoff(seconds: number): void {
    this.handoffSeconds?.observe(seconds);
  }

  /** One group commit of topic posts: how many, and how long from start to commit (or failure). */
  topicCommit(size: number, seconds: number): void {
    this.commitBatch?.observe(size);
    this.commitSeconds?.observe(seconds);
  }
}

/** Accepted → delivered confirmation, per delivery (the analytics histogram's buckets, in seconds). */
function handoffHistogram(registers: Registry[]): Histogram {
  return new Histogram({
    name: 'claudemesh_handoff_seconds',
    help: 'End-to-end handoff of direct and group messages: from the broker accepting a message to its recipient confirming delivery, per delivery',
    buckets: HANDOFF_BUCKETS_MS.map((ms) => ms / 1000),
    registers,
  });
}
