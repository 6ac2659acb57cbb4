import { signal } from '@preact/signals';
import { EventStream, type SseEvent } from '../sse.js';
import type { TopicMessage } from '../types.js';

/** At most this many streams per mesh (the broker allows 8 per key: leave room for other tabs). */
export const MAX_STREAMS = 6;
const TRAFFIC_WINDOW_MS = 60_000;

export interface StreamSink {
  onMessage(m: TopicMessage): void;
  onFatal(topic: string, code: string, message: string): void;
}

/**
 * The live streams of one mesh: the topics asked for (the current one first), each resuming from
 * the newest id the app holds. Also counts messages per topic over the last minute, from the
 * streams only, for the dashboard's traffic card.
 */
export class Streams {
  /** Topic name → whether its stream is open now. */
  readonly live = signal<Record<string, boolean>>({});
  /** Topic name → arrival times (ms) of the messages of the last minute. */
  readonly traffic = signal<Record<string, number[]>>({});
  private readonly open = new Map<string, EventStream>();

  constructor(
    private readonly key: string,
    private readonly sink: StreamSink,
  ) {}

  /** Keeps streams for `wanted` (first MAX_STREAMS), closing the others; `resumeFrom` gives each new stream's start. */
  want(wanted: string[], resumeFrom: (topic: string) => string | null): void {
    const keep = new Set(wanted.slice(0, MAX_STREAMS));
    for (const [topic, stream] of this.open) {
      if (keep.has(topic)) continue;
      stream.close();
      this.open.delete(topic);
      this.setLive(topic, null);
    }
    for (const topic of keep) {
      if (this.open.has(topic)) continue;
      const stream = new EventStream(`/api/v1/topics/${encodeURIComponent(topic)}/stream`, this.key, resumeFrom(topic), {
        onEvent: (ev) => this.onEvent(topic, ev),
        onState: (live) => this.setLive(topic, live),
        onFatal: (code, message) => {
          this.open.delete(topic);
          this.sink.onFatal(topic, code, message);
        },
      });
      this.open.set(topic, stream);
      this.setLive(topic, false);
      stream.start();
    }
  }

  has(topic: string): boolean {
    return this.open.has(topic);
  }

  pause(): void {
    for (const s of this.open.values()) s.pause();
  }

  resume(): void {
    for (const s of this.open.values()) s.resume();
  }

  closeAll(): void {
    for (const s of this.open.values()) s.close();
    this.open.clear();
    this.live.value = {};
  }

  /** Messages per topic within the last minute, as of `now`. */
  perMinute(now = Date.now()): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [topic, times] of Object.entries(this.traffic.value)) {
      const n = times.filter((t) => now - t < TRAFFIC_WINDOW_MS).length;
      if (n > 0) out[topic] = n;
    }
    return out;
  }

  private onEvent(topic: string, ev: SseEvent): void {
    if (ev.event !== 'message') return;
    let m: TopicMessage;
    try {
      m = JSON.parse(ev.data) as TopicMessage;
    } catch {
      return;
    }
    const now = Date.now();
    // A resumed stream replays what was missed: only what was written within the window is traffic.
    if (now - m.created_at < TRAFFIC_WINDOW_MS) {
      const times = (this.traffic.value[topic] ?? []).filter((t) => now - t < TRAFFIC_WINDOW_MS);
      this.traffic.value = { ...this.traffic.value, [topic]: [...times, now] };
    }
    this.sink.onMessage(m);
  }

  private setLive(topic: string, live: boolean | null): void {
    const next = { ...this.live.value };
    if (live === null) delete next[topic];
    else next[topic] = live;
    this.live.value = next;
  }
}
