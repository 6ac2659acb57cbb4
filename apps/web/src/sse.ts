/**
 * Server-sent events over fetch: EventSource cannot send an Authorization header, and the key must
 * never travel in a URL. The parser follows the event-stream format (id/event/data fields, data
 * over several lines, comments, any line ending); the stream reconnects with Last-Event-ID and a
 * backoff of 0.5 s doubling to 10 s, reset once a connection opens.
 */

export interface SseEvent {
  /** The `id:` field of this event, or null when it had none (a late message: no resume point). */
  id: string | null;
  event: string;
  data: string;
}

/** Incremental parser: feed it decoded text in any chunks, it returns the events completed so far. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  private sawData = false;

  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (!m || (m[0] === '\r' && m.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.data.push(value);
      this.sawData = true;
    } else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return null;
  }

  private dispatch(): SseEvent | null {
    const ev = this.sawData ? { id: this.id, event: this.event || 'message', data: this.data.join('\n') } : null;
    this.data = [];
    this.event = '';
    this.id = null;
    this.sawData = false;
    return ev;
  }
}

export interface StreamHandlers {
  onEvent(ev: SseEvent): void;
  onState(live: boolean): void;
  /** The broker refused for good (revoked key, left topic): the stream stops. */
  onFatal(code: string, message: string): void;
}

const FATAL = new Set(['E_UNAUTHORIZED', 'E_REVOKED', 'E_FORBIDDEN', 'E_NOT_FOUND']);
const MIN_BACKOFF = 500;
const MAX_BACKOFF = 10_000;

/** One resumable stream; `lastId` is the resume point (the newest id already held). */
export class EventStream {
  private controller: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private backoff = MIN_BACKOFF;
  private stopped = false;
  private offline = false;

  constructor(
    private readonly url: string,
    private readonly key: string,
    public lastId: string | null,
    private readonly handlers: StreamHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  close(): void {
    this.stopped = true;
    this.abort();
  }

  /** The window went offline: drop the connection and wait for `online()`. */
  pause(): void {
    this.offline = true;
    this.abort();
    this.handlers.onState(false);
  }

  /** Back online: reconnect at once, with a fresh backoff. */
  resume(): void {
    if (!this.offline || this.stopped) return;
    this.offline = false;
    this.backoff = MIN_BACKOFF;
    this.connect();
  }

  private abort(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.controller?.abort();
    this.controller = null;
  }

  private retry(): void {
    this.controller = null;
    this.handlers.onState(false);
    if (this.stopped || this.offline) return;
    this.timer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF);
  }

  private fatal(code: string, message: string): void {
    this.stopped = true;
    this.abort();
    this.handlers.onState(false);
    this.handlers.onFatal(code, message);
  }

  private connect(): void {
    this.abort();
    const controller = new AbortController();
    this.controller = controller;
    void this.run(controller).catch(() => {
      if (this.controller === controller) this.retry();
    });
  }

  private async run(controller: AbortController): Promise<void> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.key}`, Accept: 'text/event-stream' };
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    const res = await fetch(this.url, { headers, signal: controller.signal, cache: 'no-store' });
    if (!res.ok || !res.body) {
      const err = await res.json().catch(() => null) as { error?: { code?: string; message?: string } } | null;
      const code = err?.error?.code ?? `E_HTTP_${res.status}`;
      if (FATAL.has(code)) return this.fatal(code, err?.error?.message ?? code);
      throw new Error(code);
    }
    this.backoff = MIN_BACKOFF;
    this.handlers.onState(true);
    const parser = new SseParser();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const ev of parser.feed(value)) {
        if (ev.event === 'error') {
          const { code, message } = parseError(ev.data);
          if (FATAL.has(code)) return this.fatal(code, message);
          continue;
        }
        if (ev.id) this.lastId = ev.id;
        this.handlers.onEvent(ev);
      }
    }
    // The broker closed the stream (shutdown, slow consumer, an error event): resume from lastId.
    if (this.controller === controller) this.retry();
  }
}

function parseError(data: string): { code: string; message: string } {
  try {
    const e = JSON.parse(data) as { code?: string; message?: string };
    return { code: e.code ?? 'E_UNKNOWN', message: e.message ?? '' };
  } catch {
    return { code: 'E_UNKNOWN', message: data };
  }
}
