import { request, type ClientRequest, type IncomingMessage } from 'node:http';

/** One parsed server-sent event; `id` is null when the event carried no `id:` line. */
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

export interface OpenOptions {
  key?: string;
  lastEventId?: string;
  /** Raw query string, without `?`. */
  query?: string;
}

/**
 * A plain HTTP reader of `text/event-stream` (no EventSource): parses events and comments as they
 * arrive, tracks the last event id as a browser would, and can stop reading to play a slow client.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** What a browser would send as Last-Event-ID on reconnect. */
  lastEventId: string | null = null;
  ended = false;
  bytes = 0;
  private buffer = '';
  private readonly endWaiters: Array<() => void> = [];

  private constructor(
    private readonly req: ClientRequest,
    readonly res: IncomingMessage,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      this.bytes += Buffer.byteLength(chunk);
      this.buffer += chunk;
      let at: number;
      while ((at = this.buffer.indexOf('\n\n')) >= 0) {
        this.parse(this.buffer.slice(0, at));
        this.buffer = this.buffer.slice(at + 2);
      }
    });
    const done = (): void => {
      this.ended = true;
      for (const w of this.endWaiters.splice(0)) w();
    };
    res.on('end', done);
    res.on('close', done);
    res.on('error', done);
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  /** Opens the stream; a non-200 answer resolves too (read it with `json()`). */
  static open(url: string, o: OpenOptions = {}): Promise<SseClient> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (o.key) headers['authorization'] = `Bearer ${o.key}`;
    if (o.lastEventId !== undefined) headers['last-event-id'] = o.lastEventId;
    return new Promise((resolve, reject) => {
      const req = request(`${url}${o.query ? `?${o.query}` : ''}`, { headers });
      req.on('response', (res) => resolve(new SseClient(req, res)));
      req.on('error', reject);
      req.end();
    });
  }

  /** The body of a non-stream answer, parsed as JSON. */
  async json(): Promise<{ error: { code: string; message: string } }> {
    await this.waitEnd();
    return JSON.parse(this.buffer) as { error: { code: string; message: string } };
  }

  messages(): Array<{ id: string; topic: string; text?: string; sender: { display_name: string } }> {
    return this.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as { id: string; topic: string; text?: string; sender: { display_name: string } });
  }

  errorEvent(): { code: string; message: string } | undefined {
    const e = this.events.find((x) => x.event === 'error');
    return e ? (JSON.parse(e.data) as { code: string; message: string }) : undefined;
  }

  pause(): void {
    this.res.pause();
  }

  resume(): void {
    this.res.resume();
  }

  close(): void {
    this.req.destroy();
  }

  waitEnd(timeoutMs = 30_000): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the stream did not end')), timeoutMs);
      this.endWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private parse(block: string): void {
    let id: string | null = null;
    let event = 'message';
    const data: string[] = [];
    let isEvent = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else continue;
      isEvent = true;
    }
    if (!isEvent) return;
    if (id !== null) this.lastEventId = id;
    this.events.push({ id, event, data: data.join('\n') });
  }
}
