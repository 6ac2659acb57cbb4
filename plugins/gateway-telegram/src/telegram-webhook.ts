import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatInbound } from '@claudemesh/gateway';
import type { SurfaceHealth } from './surface-health.js';
import { TelegramUpdate, toChatInbound, type UpdateLike } from './telegram-inbound.js';

/** An update is a few KiB; anything this large is not from Telegram. */
export const MAX_BODY_BYTES = 1 << 20;

const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

export interface WebhookListen {
  host: string;
  port: number;
  path: string;
}

/**
 * The webhook's HTTP server. A request counts only with the secret token Telegram was given; the
 * answer is 200 once `deliver` resolved and 500 otherwise, so Telegram sends the update again.
 * Updates are handed to `deliver` one at a time, in the order they arrived, as polling does.
 */
export class TelegramWebhook {
  private server: Server | undefined;
  private readonly secretHash: Buffer;
  /** The last delivery queued (settled or not): the next one starts after it. */
  private deliveries: Promise<unknown> = Promise.resolve();
  /** Requests not answered yet; stop() lets them finish. */
  private readonly open = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly listen: WebhookListen, secretToken: string, private readonly health: SurfaceHealth) {
    this.secretHash = sha256(secretToken);
  }

  /** Listens; the URL it answers on (with the actual port when 0 was asked for). */
  async start(deliver: (m: ChatInbound) => Promise<void>): Promise<string> {
    const server = createServer((req, res) => {
      // Telegram posts it again later, to the next run.
      if (this.stopping) return answer(res, 503, { connection: 'close' });
      const handled = this.handle(req, res, deliver)
        .catch((err: unknown) => {
          this.health.failed('webhook request', err);
          answer(res, 500);
        })
        .then(() => (res.closed ? undefined : once(res, 'close')))
        .catch(() => undefined)
        .finally(() => this.open.delete(handled));
      this.open.add(handled);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listen.port, this.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.health.failed('webhook server', err));
    this.server = server;
    this.health.connected = true;
    const { address, port } = server.address() as AddressInfo;
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}${this.listen.path}`;
  }

  /**
   * Takes no new request, lets the deliveries under way finish and their answers reach Telegram
   * (fewer updates posted twice), then closes every connection.
   */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.health.connected = false;
    if (!server) return;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.all(this.open);
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, deliver: (m: ChatInbound) => Promise<void>): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== this.listen.path) return answer(res, 404);
    if (req.method !== 'POST') return answer(res, 405, { allow: 'POST' });
    if (!this.secretMatches(req.headers[SECRET_HEADER])) {
      this.health.log(`telegram: webhook refused a request from ${req.socket.remoteAddress ?? '?'}: no or wrong ${SECRET_HEADER}`);
      return answer(res, 401);
    }
    const raw = await readBody(req, MAX_BODY_BYTES);
    if (raw === 'too large') return answer(res, 413, { connection: 'close' });
    let update: UpdateLike;
    try {
      update = TelegramUpdate.parse(JSON.parse(raw.toString('utf8')));
    } catch {
      this.health.log('telegram: webhook refused a body that is not an update');
      return answer(res, 400);
    }
    this.health.event();
    const inbound = toChatInbound(update);
    if (typeof inbound === 'string') {
      if (inbound === 'malformed message') this.health.log(`telegram: update ${update.update_id} skipped: ${inbound}`);
      return answer(res, 200);
    }
    const turn = this.deliveries.then(() => deliver(inbound));
    this.deliveries = turn.catch(() => undefined);
    try {
      await turn;
    } catch (err) {
      this.health.failed(`delivering update ${update.update_id}`, err);
      return answer(res, 500);
    }
    answer(res, 200);
  }

  private secretMatches(given: string | string[] | undefined): boolean {
    // Hashing first makes both sides the same length, so the comparison leaks neither content nor length.
    return typeof given === 'string' && timingSafeEqual(sha256(given), this.secretHash);
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function answer(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(status === 200 ? '' : `${status}\n`);
}

/** The whole body, or 'too large' as soon as it passes `max` (by its Content-Length or as it streams in). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too large'> {
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.resolve('too large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      // The rest still flows in and is dropped until the 413 closes the connection.
      req.off('data', onData).off('end', onEnd);
      resolve('too large');
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on('data', onData).once('end', onEnd).once('error', reject);
  });
}
