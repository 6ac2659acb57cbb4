/** The HTTP pieces of the webhook endpoint: a bounded body reader, Meta's signature check, plain answers. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Meta's payloads are a few KiB; a batch stays far below this. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Past this much discarded body, the sender is not a webhook client: the socket is dropped. */
const MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES;

/**
 * The raw body, or `null` when it is longer than `limit`. An oversize body is still read to its end
 * (up to a cap) so the client, busy sending, gets the 413 instead of a reset connection.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_DRAIN_BYTES) {
        req.destroy();
        reject(new Error('request body far over the limit; connection dropped'));
      } else if (size <= limit) chunks.push(chunk);
    });
    let ended = false;
    req.on('end', () => {
      ended = true;
      resolve(size > limit ? null : Buffer.concat(chunks));
    });
    req.on('error', reject);
    // A sender that goes away mid-body does not always raise 'error'; without this the read never settles.
    req.on('close', () => {
      if (!ended) reject(new Error('request closed before its body ended'));
    });
  });
}

/** `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`, compared in constant time. */
export function signatureMatches(header: string | string[] | undefined, raw: Buffer, appSecret: string): boolean {
  if (typeof header !== 'string') return false;
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!m) return false;
  const expected = createHmac('sha256', appSecret).update(raw).digest();
  return timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected);
}

export function answer(res: ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}
