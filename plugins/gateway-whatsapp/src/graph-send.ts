/**
 * One text message through the Graph API (`POST /{version}/{phone_number_id}/messages`), its
 * failures sorted for the gateway core: wait and retry (RetryAfter), give up (PermanentSendError),
 * or anything else rethrown for the core's own backoff.
 */
import { PermanentSendError, RetryAfter, type ChatOutbound } from '@claudemesh/gateway';
import { z } from 'zod';

/**
 * Graph's rate-limit codes, with how long to wait when no `Retry-After` header says. The pair limit
 * (131056: one business number to one customer, about one message per 6 s after a burst of up to 45)
 * and the app, account and spam limits (4, 80007, 131048) are measured over minutes to an hour, so
 * retrying within seconds only spends calls: a minute. Throughput (130429: messages per second per
 * number) clears within seconds.
 */
const RATE_LIMIT_WAIT_MS = new Map<number, number>([
  [4, 60_000],
  [80007, 60_000],
  [131048, 60_000],
  [131056, 60_000],
  [130429, 5_000],
]);
/** A bare HTTP 429 with some other code. */
const DEFAULT_RATE_LIMIT_WAIT_MS = 5_000;

/**
 * Refusals a retry will not change: the token (190), the recipient (131030 not on a test number's
 * allowed list, 131026 undeliverable), the request (100), the 24-hour window (131047), and the
 * number's or account's permissions (3, 10, 33, 131031, 368, 200-299).
 */
const PERMANENT_CODES = new Set([3, 10, 33, 100, 190, 368, 131026, 131030, 131031, 131047]);
/** Graph's own "try again later" codes, whatever HTTP status carries them. */
const TRANSIENT_CODES = new Set([1, 2, 131000, 131016, 133004]);

const GraphError = z.object({
  error: z.object({
    code: z.number().int().optional(),
    message: z.string().optional(),
    error_data: z.object({ details: z.string().optional() }).optional(),
  }),
});
const GraphSent = z.object({ messages: z.array(z.object({ id: z.string().min(1) })).min(1) });

export interface GraphTarget {
  /** `https://graph.facebook.com/v21.0/<phone_number_id>/messages` */
  url: string;
  token: string;
  timeoutMs: number;
}

export async function sendText(target: GraphTarget, m: ChatOutbound): Promise<{ messageId: string }> {
  const body = {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to: m.chat,
    type: 'text',
    // A relayed agent message is not the place for a link card the agent did not ask for.
    text: { body: m.text, preview_url: false },
    ...(m.thread ? { context: { message_id: m.thread } } : {}),
  };
  const res = await fetch(target.url, {
    method: 'POST',
    headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(target.timeoutMs),
  });
  const text = await res.text();
  const json = parseJson(text);
  if (res.ok) {
    const sent = GraphSent.safeParse(json);
    if (!sent.success) throw new Error(`WhatsApp send: HTTP ${res.status} without a message id`);
    return { messageId: sent.data.messages[0]!.id };
  }
  throw sendError(res, json);
}

function sendError(res: Response, json: unknown): Error {
  const parsed = GraphError.safeParse(json);
  const code = parsed.success ? parsed.data.error.code : undefined;
  const what = describe(res.status, parsed.success ? parsed.data.error : undefined);
  const limitWait = code === undefined ? undefined : RATE_LIMIT_WAIT_MS.get(code);
  if (res.status === 429 || limitWait !== undefined) {
    const ms = retryAfterMs(res.headers.get('retry-after')) ?? limitWait ?? DEFAULT_RATE_LIMIT_WAIT_MS;
    return new RetryAfter(ms, `WhatsApp send rate limited (${what}): retry after ${ms} ms`);
  }
  if (code !== undefined && TRANSIENT_CODES.has(code)) return new Error(`WhatsApp send failed for now (${what})`);
  // Before the 5xx check: Graph answers some permission errors (code 3) with HTTP 500.
  if (res.status === 401 || (code !== undefined && (PERMANENT_CODES.has(code) || (code >= 200 && code <= 299)))) {
    return new PermanentSendError(`WhatsApp refused the message (${what})`);
  }
  if (res.status >= 500) return new Error(`WhatsApp send failed (${what})`);
  // Any other 4xx is about this request, which a retry repeats as it is.
  if (res.status >= 400 && res.status < 500) return new PermanentSendError(`WhatsApp refused the message (${what})`);
  return new Error(`WhatsApp send failed (${what})`);
}

/** Graph's message and details say what went wrong; neither repeats the token. */
function describe(status: number, error: z.output<typeof GraphError>['error'] | undefined): string {
  const parts = [`HTTP ${status}`];
  if (error?.code !== undefined) parts.push(`code ${error.code}`);
  const message = [error?.message, error?.error_data?.details].filter(Boolean).join(': ');
  if (message) parts.push(message.length > 300 ? `${message.slice(0, 300)}…` : message);
  return parts.join(', ');
}

/** `Retry-After` in seconds, or as an HTTP date. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
