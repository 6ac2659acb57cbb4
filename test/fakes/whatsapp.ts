/**
 * A local fake of the WhatsApp Cloud API's send side (the Graph API), plus helpers for its
 * receive side (webhooks), so a gateway can be tested without graph.facebook.com.
 *
 * Send: `POST <graphBase>/<phone_number_id>/messages` with `Authorization: Bearer <token>` and a JSON
 * body (`messaging_product: 'whatsapp'`, `to`, `type`, `text: { body }`, `context: { message_id }`
 * for a reply); answers `{ messaging_product, contacts: [{ input, wa_id }], messages: [{ id: 'wamid.…' }] }`
 * or a Graph error `{ error: { message, type, code, fbtrace_id } }`.
 *
 * Receive: Meta POSTs `{ object: 'whatsapp_business_account', entry[].changes[].value.messages[] }`
 * to the app's webhook, signed `X-Hub-Signature-256: sha256=<HMAC-SHA256(app secret, raw body)>`;
 * subscribing is a GET with `hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`, answered
 * with the challenge.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { sendJson, startLocalServer } from './http.js';

export const WHATSAPP_GRAPH_VERSION = 'v21.0';

export interface WhatsAppSend {
  phoneNumberId: string;
  body: Record<string, unknown>;
  token: string | undefined;
  status: number;
  /** The wamid the fake answered with (ok sends only). */
  id?: string;
}

export interface FakeWhatsApp {
  /** e.g. `http://127.0.0.1:<port>/v21.0` (no trailing slash), standing for `https://graph.facebook.com/v21.0`. */
  graphBase: string;
  /** Every POST …/messages, in order (including those answered with an error). */
  sent: WhatsAppSend[];
  /** The next `n` sends answer HTTP 429 with Graph's throughput error (code 130429) and `Retry-After`. */
  failNext(n: number, retryAfterSeconds: number): void;
  /**
   * The next `n` sends answer with this Graph error instead (after the token check): a rate limit
   * without `Retry-After`, a refusal such as 131026, a 5xx.
   */
  failNextWith(n: number, failure: WhatsAppFailure): void;
  /** Resolves once `count` sends have been answered ok in total. */
  waitForSends(count?: number): Promise<WhatsAppSend[]>;
  close(): Promise<void>;
}

/** A Graph error answer: HTTP status, Graph `code`, and optionally a `Retry-After` header. */
export interface WhatsAppFailure {
  status: number;
  code: number;
  message?: string;
  retryAfterSeconds?: number;
}

export interface FakeWhatsAppOptions {
  /** When set, any other bearer token gets Graph's 401 (code 190); by default any token is accepted. */
  accessToken?: string;
  /**
   * When set, sends to any other number get 131030 (HTTP 400), as for a test number whose recipients
   * must be on the app's allowed list; by default every recipient is accepted.
   */
  allowedRecipients?: string[];
  version?: string;
}

export async function startFakeWhatsApp(options: FakeWhatsAppOptions = {}): Promise<FakeWhatsApp> {
  const version = options.version ?? WHATSAPP_GRAPH_VERSION;
  const sent: WhatsAppSend[] = [];
  const waiters: Array<{ count: number; resolve: (s: WhatsAppSend[]) => void }> = [];
  const failures: WhatsAppFailure[] = [];
  const okSends = () => sent.filter((s) => s.id !== undefined);

  const graphError = (res: ServerResponse, status: number, code: number, message: string, type = 'OAuthException', headers: Record<string, string> = {}) =>
    sendJson(res, status, { error: { message, type, code, fbtrace_id: `Fake${randomBytes(6).toString('hex')}` } }, headers);

  const local = await startLocalServer((req, res) => {
    const m = new RegExp(`^/${version.replace('.', '\\.')}/([^/]+)/messages$`).exec(req.path);
    if (req.method !== 'POST' || !m) return graphError(res, 400, 100, 'Unsupported request - method type: ' + req.method.toLowerCase(), 'GraphMethodException');
    const auth = req.headers['authorization'];
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const call: WhatsAppSend = { phoneNumberId: m[1]!, body: req.body, token, status: 200 };
    sent.push(call);
    if (token === undefined || (options.accessToken !== undefined && token !== options.accessToken)) {
      call.status = 401;
      return graphError(res, 401, 190, 'Invalid OAuth access token - Cannot parse access token');
    }
    const failure = failures.shift();
    if (failure) {
      call.status = failure.status;
      const headers: Record<string, string> = failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) };
      return graphError(res, failure.status, failure.code, failure.message ?? `(#${failure.code}) Fake failure`, 'OAuthException', headers);
    }
    const b = req.body;
    if (b['messaging_product'] !== 'whatsapp') {
      call.status = 400;
      return graphError(res, 400, 100, '(#100) The parameter messaging_product is required.');
    }
    if (typeof b['to'] !== 'string' || b['to'] === '') {
      call.status = 400;
      return graphError(res, 400, 100, '(#100) The parameter to is required.');
    }
    if (options.allowedRecipients && !options.allowedRecipients.includes(String(b['to']).replace(/^\+/, ''))) {
      call.status = 400;
      return graphError(res, 400, 131030, '(#131030) Recipient phone number not in allowed list');
    }
    const type = b['type'] ?? 'text';
    if (type === 'text' && typeof (b['text'] as { body?: unknown } | undefined)?.body !== 'string') {
      call.status = 400;
      return graphError(res, 400, 100, '(#100) The parameter text[\'body\'] is required.');
    }
    call.id = newWamid();
    for (const w of [...waiters]) {
      if (okSends().length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(okSends());
      }
    }
    return sendJson(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: b['to'], wa_id: String(b['to']).replace(/^\+/, '') }], messages: [{ id: call.id }] });
  });

  return {
    graphBase: `http://127.0.0.1:${local.port}/${version}`,
    sent,
    failNext(n, retryAfterSeconds) {
      failures.splice(0, failures.length, ...Array.from({ length: n }, () => ({ status: 429, code: 130429, message: '(#130429) Rate limit hit', retryAfterSeconds })));
    },
    failNextWith(n, failure) {
      failures.splice(0, failures.length, ...Array.from({ length: n }, () => failure));
    },
    waitForSends(count = 1) {
      if (okSends().length >= count) return Promise.resolve(okSends());
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close: () => local.close(),
  };
}

/** A message id in WhatsApp's shape: `wamid.` followed by base64. */
export function newWamid(): string {
  return `wamid.${randomBytes(30).toString('base64')}`;
}

export interface WhatsAppInbound {
  /** Sender's WhatsApp id (phone number without `+`). */
  from: string;
  text: string;
  /** The message's wamid; generated if left out. */
  id?: string;
  /** The wamid of the message this one replies to (becomes `context: { from, id }`). */
  contextId?: string;
  name?: string;
  phoneNumberId?: string;
  displayPhoneNumber?: string;
  wabaId?: string;
  /** Seconds since the epoch; now if left out. */
  timestamp?: number;
}

/** The webhook body Meta POSTs for one incoming text message. Serialise it once and sign those exact bytes. */
export function whatsappWebhookBody(m: WhatsAppInbound): Record<string, unknown> {
  return inboundBody(m, { text: { body: m.text }, type: 'text' });
}

export type WhatsAppMediaKind = 'image' | 'document' | 'audio' | 'video' | 'sticker';

export interface WhatsAppMediaInbound extends Omit<WhatsAppInbound, 'text'> {
  kind: WhatsAppMediaKind;
  mimeType: string;
  /** Documents carry their file name. */
  filename?: string;
  /** Images, videos and documents may carry a caption. */
  caption?: string;
}

/** The webhook body for one incoming media message: the media is only named by an id to fetch, never inlined. */
export function whatsappMediaWebhookBody(m: WhatsAppMediaInbound): Record<string, unknown> {
  const media: Record<string, unknown> = { mime_type: m.mimeType, sha256: randomBytes(32).toString('base64'), id: String(randomBytes(6).readUIntBE(0, 6)) };
  if (m.filename !== undefined) media['filename'] = m.filename;
  if (m.caption !== undefined) media['caption'] = m.caption;
  return inboundBody(m, { type: m.kind, [m.kind]: media });
}

export interface WhatsAppStatusUpdate {
  /** The wamid of a message the business sent. */
  id: string;
  recipient: string;
  status?: 'sent' | 'delivered' | 'read' | 'failed';
  phoneNumberId?: string;
}

/** The webhook body for a delivery status of a sent message (no `messages`, a `statuses` array instead). */
export function whatsappStatusWebhookBody(s: WhatsAppStatusUpdate): Record<string, unknown> {
  return envelope(s.phoneNumberId ?? DEFAULT_PHONE_NUMBER_ID, DEFAULT_DISPLAY_NUMBER, DEFAULT_WABA_ID, {
    statuses: [{ id: s.id, status: s.status ?? 'delivered', timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: s.recipient }],
  });
}

const DEFAULT_PHONE_NUMBER_ID = '100000000000001';
const DEFAULT_DISPLAY_NUMBER = '15550001234';
const DEFAULT_WABA_ID = '200000000000002';

function inboundBody(m: Omit<WhatsAppInbound, 'text'>, content: Record<string, unknown>): Record<string, unknown> {
  const display = m.displayPhoneNumber ?? DEFAULT_DISPLAY_NUMBER;
  const message: Record<string, unknown> = { from: m.from, id: m.id ?? newWamid(), timestamp: String(m.timestamp ?? Math.floor(Date.now() / 1000)), ...content };
  // A reply names the message it answers; `from` there is the business number that sent it.
  if (m.contextId) message['context'] = { from: display, id: m.contextId };
  return envelope(m.phoneNumberId ?? DEFAULT_PHONE_NUMBER_ID, display, m.wabaId ?? DEFAULT_WABA_ID, {
    contacts: [{ profile: { name: m.name ?? 'Ada' }, wa_id: m.from }],
    messages: [message],
  });
}

function envelope(phoneNumberId: string, display: string, wabaId: string, value: Record<string, unknown>): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: wabaId,
        changes: [{ value: { messaging_product: 'whatsapp', metadata: { display_phone_number: display, phone_number_id: phoneNumberId }, ...value }, field: 'messages' }],
      },
    ],
  };
}

/** `X-Hub-Signature-256` for a webhook body: `sha256=` + hex HMAC-SHA256 of the raw bytes with the app secret. */
export function signWhatsApp(appSecret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/** The query of Meta's subscribe handshake (GET on the webhook URL); the endpoint must answer with `challenge`, as plain text. */
export function whatsappVerifyQuery(verifyToken: string, challenge = String(randomBytes(4).readUInt32BE())): URLSearchParams {
  return new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': verifyToken, 'hub.challenge': challenge });
}
