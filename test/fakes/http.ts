/**
 * What the chat-API fakes share: a 127.0.0.1 HTTP server that can be closed with requests still
 * open (a long poll, a keep-alive socket from a client library), and a body reader that understands
 * the encodings the real client libraries send (JSON, form-urlencoded, query string).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ParsedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  raw: Buffer;
  /** JSON object, or form fields (values that look like JSON objects/arrays parsed, as Slack's client nests them). */
  body: Record<string, unknown>;
}

export type Handler = (req: ParsedRequest, res: ServerResponse, incoming: IncomingMessage) => void | Promise<void>;

export interface LocalServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function parseBody(raw: Buffer, contentType: string, query: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of query) out[k] = v;
  if (raw.length === 0) return out;
  const text = raw.toString('utf8');
  if (contentType.startsWith('application/json')) {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) Object.assign(out, parsed);
    return out;
  }
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(text)) {
      // Form clients JSON-encode nested values (reply_parameters, blocks); undo that so tests see objects.
      if (/^[[{]/.test(v)) {
        try {
          out[k] = JSON.parse(v);
          continue;
        } catch {
          /* a plain string that starts with a bracket */
        }
      }
      out[k] = v;
    }
  }
  return out;
}

/** Listens on 127.0.0.1:0; every request is read whole, then handed over parsed. Bad JSON gets a 400. */
export async function startLocalServer(handler: Handler): Promise<LocalServer> {
  const server = createServer((incoming, res) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (c: Buffer) => chunks.push(c));
    incoming.on('end', () => {
      const url = new URL(incoming.url ?? '/', 'http://127.0.0.1');
      const raw = Buffer.concat(chunks);
      let body: Record<string, unknown>;
      try {
        body = parseBody(raw, String(incoming.headers['content-type'] ?? ''), url.searchParams);
      } catch {
        return sendJson(res, 400, { ok: false, error: 'invalid_json' });
      }
      const req: ParsedRequest = { method: incoming.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: incoming.headers, raw, body };
      Promise.resolve(handler(req, res, incoming)).catch((err: unknown) => sendJson(res, 500, { ok: false, error: String(err) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Client libraries keep sockets alive; without this, close() waits for their idle timeout.
        server.closeAllConnections();
      }),
  };
}
