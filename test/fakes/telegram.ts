/**
 * A local fake of the Telegram Bot API (https://core.telegram.org/bots/api), for driving a real
 * client (grammY: `new Bot(token, { client: { apiRoot: fake.apiRoot } })`) without reaching
 * api.telegram.org. Requests are `/bot<token>/<method>` with JSON, form or query parameters; answers
 * are `{ ok: true, result }` or `{ ok: false, error_code, description, parameters? }` as Telegram sends.
 *
 * Covered: getMe, deleteWebhook, setWebhook, getWebhookInfo, getUpdates (long polling: `offset`
 * confirms earlier updates, `timeout` in seconds, `limit`; a newer getUpdates ends an older one with
 * 409 as Telegram does), sendMessage (with reply_parameters / reply_to_message_id), getFile.
 * Anything else is a 404 `Not Found`, like Telegram's answer to an unknown method.
 * While a webhook is set, an update the webhook does not answer with 2xx is POSTed again, as
 * Telegram retries a failed delivery.
 */
import type { ServerResponse } from 'node:http';
import { sendJson, startLocalServer } from './http.js';

export interface TgUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
}

export interface TgChat {
  id: number;
  type: 'private' | 'group' | 'supergroup' | 'channel';
  title?: string;
  first_name?: string;
  username?: string;
}

export interface TgMessage {
  message_id: number;
  date: number;
  chat: TgChat;
  from?: TgUser;
  text?: string;
  message_thread_id?: number;
  reply_to_message?: TgMessage;
  [field: string]: unknown;
}

export interface TgUpdate {
  update_id: number;
  message?: TgMessage;
  [field: string]: unknown;
}

export interface TgCall {
  method: string;
  body: Record<string, unknown>;
  /** HTTP status the fake answered with (429 for an injected failure). */
  status: number;
}

/** An error answer, as Telegram sends it (`{ ok: false, error_code, description, parameters? }`). */
export interface TgError {
  error_code: number;
  description: string;
  parameters?: Record<string, unknown>;
}

/** One POST of an update to the webhook and how it was answered. */
export interface TgWebhookDelivery {
  update_id: number;
  /** 1 for the first POST of this update, 2 for its first retry, … */
  attempt: number;
  /** The webhook's HTTP status; 0 when the request failed (refused, reset). */
  status: number;
}

/** What a test may leave out of a pushed message; the fake fills in ids and date. */
export interface TgPartialMessage {
  chat?: Partial<TgChat> & { id: number };
  from?: TgUser;
  text?: string;
  message_id?: number;
  date?: number;
  message_thread_id?: number;
  reply_to_message?: TgMessage;
  /** Any other Message field (entities, photo, caption, …), passed through as is. */
  [field: string]: unknown;
}

export interface FakeTelegram {
  /** For grammY's `client.apiRoot` (no trailing slash). */
  apiRoot: string;
  /** The bot the fake plays: what getMe answers and what sent messages come `from`. */
  bot: TgUser;
  /** Every call except getUpdates, in order (including those answered with an injected 429). */
  sent: TgCall[];
  /** The webhook set with setWebhook, if any; while set, pushed updates are POSTed there and getUpdates is refused. */
  readonly webhook: { url: string; secretToken?: string } | undefined;
  /** Every POST to the webhook once answered (or failed), in that order. */
  webhookDeliveries: TgWebhookDelivery[];
  /** Queues an incoming message as a new update (assigns update_id, message_id and date) and wakes a waiting getUpdates. */
  pushUpdate(message: TgPartialMessage): TgUpdate;
  /** Queues any update as is except for update_id (callback_query, edited_message, …). */
  pushRawUpdate(update: Omit<TgUpdate, 'update_id'>): TgUpdate;
  /** The next `n` calls of `method` answer 429 with `parameters.retry_after`. */
  failNext(method: string, n: number, retryAfterSeconds: number): void;
  /** The next `n` calls of `method` answer this error (403 `Forbidden: bot was blocked by the user`, …). */
  failNextWith(method: string, n: number, error: TgError): void;
  /** Resolves once the bot has called `method` `count` times in total (getUpdates included). */
  waitForCall(method: string, count?: number): Promise<void>;
  close(): Promise<void>;
}

export interface FakeTelegramOptions {
  /** When set, any other token gets 401 Unauthorized; by default every token is accepted. */
  token?: string;
  bot?: Partial<TgUser>;
  /** Wait before POSTing an update again that the webhook did not answer with 2xx (default 50 ms). */
  webhookRetryMs?: number;
  /** POSTs of one update at most (default 20); Telegram keeps trying for much longer. */
  webhookMaxAttempts?: number;
  /** How long an idle client connection is kept open (default Node's 5 s; Telegram's is much longer), to see who closes it. */
  keepAliveMs?: number;
}

interface Waiter {
  offset: number;
  limit: number;
  res: ServerResponse;
  timer: NodeJS.Timeout;
}

const DEFAULT_CHAT: TgChat = { id: 424242, type: 'private', first_name: 'Ada', username: 'ada' };

export async function startFakeTelegram(options: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  const bot: TgUser = { id: 7000001, is_bot: true, first_name: 'Mesh Bot', username: 'mesh_test_bot', ...options.bot };
  const updates: TgUpdate[] = [];
  const messages = new Map<string, TgMessage>(); // `${chat_id}:${message_id}`, for replies
  const chats = new Map<number, TgChat>();
  const failures = new Map<string, { left: number; error: TgError }>();
  const counts = new Map<string, number>();
  const callWaiters: Array<{ method: string; count: number; resolve: () => void }> = [];
  const sent: TgCall[] = [];
  const webhookDeliveries: TgWebhookDelivery[] = [];
  const retryTimers = new Set<NodeJS.Timeout>();
  let waiter: Waiter | undefined;
  let webhook: { url: string; secretToken?: string } | undefined;
  let nextUpdateId = 100_000;
  let nextMessageId = 1;
  let closed = false;

  const ok = (res: ServerResponse, result: unknown) => sendJson(res, 200, { ok: true, result });
  const fail = (res: ServerResponse, code: number, description: string, parameters?: Record<string, unknown>) =>
    sendJson(res, code, { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) });

  const store = (m: TgMessage) => messages.set(`${m.chat.id}:${m.message_id}`, m);

  function pending(offset: number, limit: number): TgUpdate[] {
    return updates.filter((u) => u.update_id >= offset).slice(0, limit);
  }

  function answerWaiter(): void {
    if (!waiter) return;
    const w = waiter;
    waiter = undefined;
    clearTimeout(w.timer);
    ok(w.res, pending(w.offset, w.limit));
  }

  function post(update: TgUpdate, attempt: number): void {
    if (!webhook || closed) return;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (webhook.secretToken) headers['x-telegram-bot-api-secret-token'] = webhook.secretToken;
    fetch(webhook.url, { method: 'POST', headers, body: JSON.stringify(update) })
      .then(async (res) => {
        await res.arrayBuffer().catch(() => undefined);
        return res.status;
      })
      .catch(() => 0)
      .then((status) => {
        if (closed) return;
        webhookDeliveries.push({ update_id: update.update_id, attempt, status });
        if ((status >= 200 && status < 300) || attempt >= (options.webhookMaxAttempts ?? 20)) return;
        const timer = setTimeout(() => {
          retryTimers.delete(timer);
          post(update, attempt + 1);
        }, options.webhookRetryMs ?? 50);
        retryTimers.add(timer);
      });
  }

  function deliver(update: TgUpdate): TgUpdate {
    if (webhook) {
      post(update, 1);
      return update;
    }
    updates.push(update);
    if (waiter && update.update_id >= waiter.offset) answerWaiter();
    return update;
  }

  function chatFor(id: unknown): TgChat {
    const n = typeof id === 'string' && /^-?\d+$/.test(id) ? Number(id) : id;
    if (typeof n === 'number') return chats.get(n) ?? { id: n, type: n < 0 ? 'supergroup' : 'private' };
    // '@channelusername': Telegram resolves it to the channel; the fake makes one up.
    return { id: -1000000000001, type: 'channel', title: String(n), username: String(n).replace(/^@/, '') };
  }

  function counted(method: string): void {
    const c = (counts.get(method) ?? 0) + 1;
    counts.set(method, c);
    for (const w of [...callWaiters]) {
      if (w.method === method && c >= w.count) {
        callWaiters.splice(callWaiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  const local = await startLocalServer((req, res) => {
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.path);
    if (!m) return fail(res, 404, 'Not Found');
    const [, token, rawMethod] = m as unknown as [string, string, string];
    if (options.token !== undefined && token !== options.token) return fail(res, 401, 'Unauthorized');
    // Telegram method names are case-insensitive.
    const method = KNOWN.find((k) => k.toLowerCase() === rawMethod.toLowerCase());
    if (!method) return fail(res, 404, 'Not Found');
    counted(method);
    const body = req.body;
    const failure = failures.get(method);
    const injected = failure !== undefined && failure.left > 0;
    if (method !== 'getUpdates') sent.push({ method, body, status: injected ? failure.error.error_code : 200 });
    if (injected) {
      failure.left -= 1;
      return fail(res, failure.error.error_code, failure.error.description, failure.error.parameters);
    }

    switch (method) {
      case 'getMe':
        return ok(res, { ...bot, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false });
      case 'deleteWebhook':
        webhook = undefined;
        if (body['drop_pending_updates'] === true || body['drop_pending_updates'] === 'true') updates.length = 0;
        return ok(res, true);
      case 'setWebhook': {
        const url = String(body['url'] ?? '');
        if (url === '') webhook = undefined;
        else webhook = { url, ...(body['secret_token'] ? { secretToken: String(body['secret_token']) } : {}) };
        return ok(res, true);
      }
      case 'getWebhookInfo':
        return ok(res, { url: webhook?.url ?? '', has_custom_certificate: false, pending_update_count: webhook ? 0 : updates.length });
      case 'getUpdates': {
        if (webhook) return fail(res, 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
        const offset = Number(body['offset'] ?? 0);
        const limit = Math.min(Math.max(Number(body['limit'] ?? 100), 1), 100);
        const timeout = Math.max(Number(body['timeout'] ?? 0), 0);
        // An offset confirms (forgets) every update before it; a negative one keeps only the last -offset.
        if (offset < 0) updates.splice(0, Math.max(updates.length + offset, 0));
        else if (offset > 0) {
          const keep = updates.findIndex((u) => u.update_id >= offset);
          updates.splice(0, keep === -1 ? updates.length : keep);
        }
        const first = updates[0]?.update_id ?? 0;
        const effective = offset < 0 ? first : offset;
        // Only one getUpdates at a time: Telegram ends the older one with 409.
        if (waiter) {
          const old = waiter;
          waiter = undefined;
          clearTimeout(old.timer);
          fail(old.res, 409, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running');
        }
        const ready = pending(effective, limit);
        if (ready.length > 0 || timeout === 0 || closed) return ok(res, ready);
        const w: Waiter = { offset: effective, limit, res, timer: setTimeout(() => answerWaiter(), timeout * 1000) };
        waiter = w;
        // The client gave up (bot.stop() aborts its poll): nothing to answer.
        res.on('close', () => {
          if (waiter === w) {
            clearTimeout(w.timer);
            waiter = undefined;
          }
        });
        return;
      }
      case 'sendMessage': {
        const text = body['text'];
        if (typeof text !== 'string' || text.length === 0) return fail(res, 400, 'Bad Request: message text is empty');
        if (body['chat_id'] === undefined) return fail(res, 400, 'Bad Request: chat_id is empty');
        const chat = chatFor(body['chat_id']);
        const rp = (body['reply_parameters'] ?? undefined) as { message_id?: number; chat_id?: unknown; allow_sending_without_reply?: boolean } | undefined;
        const replyId = rp?.message_id ?? (body['reply_to_message_id'] !== undefined ? Number(body['reply_to_message_id']) : undefined);
        let reply: TgMessage | undefined;
        if (replyId !== undefined) {
          const replyChat = rp?.chat_id !== undefined ? chatFor(rp.chat_id) : chat;
          reply = messages.get(`${replyChat.id}:${replyId}`);
          const allow = rp?.allow_sending_without_reply ?? body['allow_sending_without_reply'] === true;
          if (!reply && !allow) return fail(res, 400, 'Bad Request: message to be replied not found');
        }
        const msg: TgMessage = { message_id: nextMessageId++, from: bot, chat, date: now(), text };
        if (body['message_thread_id'] !== undefined) msg.message_thread_id = Number(body['message_thread_id']);
        if (reply) msg.reply_to_message = withoutNestedReply(reply);
        store(msg);
        return ok(res, msg);
      }
      case 'getFile': {
        const fileId = String(body['file_id'] ?? '');
        if (fileId === '') return fail(res, 400, 'Bad Request: file_id is empty');
        return ok(res, { file_id: fileId, file_unique_id: `u-${fileId}`, file_size: 0, file_path: `documents/${fileId}` });
      }
    }
  });

  if (options.keepAliveMs !== undefined) local.server.keepAliveTimeout = options.keepAliveMs;
  const apiRoot = `http://127.0.0.1:${local.port}`;
  return {
    apiRoot,
    bot,
    sent,
    get webhook() {
      return webhook;
    },
    webhookDeliveries,
    pushUpdate(partial: TgPartialMessage): TgUpdate {
      const chat: TgChat = partial.chat ? ({ type: partial.chat.id < 0 ? 'supergroup' : 'private', ...partial.chat } as TgChat) : DEFAULT_CHAT;
      chats.set(chat.id, chat);
      const from: TgUser = partial.from ?? { id: chat.type === 'private' ? chat.id : 424242, is_bot: false, first_name: chat.first_name ?? 'Ada' };
      const message: TgMessage = { ...partial, message_id: partial.message_id ?? nextMessageId++, date: partial.date ?? now(), chat, from };
      store(message);
      return deliver({ update_id: nextUpdateId++, message });
    },
    pushRawUpdate(update): TgUpdate {
      return deliver({ ...update, update_id: nextUpdateId++ });
    },
    failNext(method, n, retryAfterSeconds) {
      failures.set(method, { left: n, error: { error_code: 429, description: `Too Many Requests: retry after ${retryAfterSeconds}`, parameters: { retry_after: retryAfterSeconds } } });
    },
    failNextWith(method, n, error) {
      failures.set(method, { left: n, error });
    },
    waitForCall(method, count = 1) {
      if ((counts.get(method) ?? 0) >= count) return Promise.resolve();
      return new Promise<void>((resolve) => callWaiters.push({ method, count, resolve }));
    },
    async close() {
      closed = true;
      for (const t of retryTimers) clearTimeout(t);
      retryTimers.clear();
      // A pending long poll ends empty, as Telegram's does at its timeout.
      answerWaiter();
      await local.close();
    },
  };
}

const KNOWN = ['getMe', 'deleteWebhook', 'setWebhook', 'getWebhookInfo', 'getUpdates', 'sendMessage', 'getFile'] as const;

function now(): number {
  return Math.floor(Date.now() / 1000);
}

// Telegram does not nest reply_to_message more than one level deep.
function withoutNestedReply(m: TgMessage): TgMessage {
  const { reply_to_message: _nested, ...rest } = m;
  return rest as TgMessage;
}
