import { request } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body's bytes as they came (a gzipped one, say). */
  raw: Buffer;
}

/** One HTTP request on its own connection, from a chosen local address (127.0.0.2, … are loopback too). */
export function httpRequest(url: string, o: { method?: string; body?: unknown; headers?: Record<string, string>; localAddress?: string } = {}): Promise<RawAnswer> {
  const raw = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers: Record<string, string> = { connection: 'close', ...(raw === undefined ? {} : { 'content-type': 'application/json' }), ...o.headers };
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? (raw === undefined ? 'GET' : 'POST'), headers, agent: false, ...(o.localAddress ? { localAddress: o.localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), raw: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(raw);
  });
}

/**
 * A bare TCP client: writes what the test says, when it says, and records what comes back and
 * when the broker closes the connection.
 */
export class RawSocket {
  received = '';
  closed = false;
  private readonly closeWaiters: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (this.received += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.closeWaiters.splice(0)) w();
    });
  }

  static open(port: number, localAddress = '127.0.0.1'): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', localAddress });
      socket.once('connect', () => resolve(new RawSocket(socket)));
      socket.once('error', reject);
    });
  }

  write(text: string): boolean {
    return !this.socket.destroyed && this.socket.write(text);
  }

  /** Writes `text` one byte every `everyMs` (until it is all sent or the broker closes the socket). */
  trickle(text: string, everyMs: number): void {
    let i = 0;
    const timer = setInterval(() => {
      if (i >= text.length || this.closed) return clearInterval(timer);
      this.write(text[i++]!);
    }, everyMs);
    this.socket.once('close', () => clearInterval(timer));
  }

  /** Resolves when the broker has closed the connection; rejects after `timeoutMs` (hang detection). */
  waitClose(timeoutMs = 15_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the broker did not close the connection')), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The status and JSON error body of the one answer the broker wrote before closing. */
  answer(): { status: number; body: { error?: { code: string; message: string } } } {
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(this.received)?.[1] ?? 0);
    const body = this.received.slice(this.received.indexOf('\r\n\r\n') + 4);
    return { status, body: body ? (JSON.parse(body) as { error?: { code: string; message: string } }) : {} };
  }

  destroy(): void {
    this.socket.destroy();
  }
}
