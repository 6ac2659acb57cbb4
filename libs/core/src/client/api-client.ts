import type { EpochHistorySeal, EpochSeal, Identity, SignedEpochManifest } from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  AddTopicMemberBody, ApiKeyInfo, CreateApiKeyBody, CreateTopicBody, CreatedApiKey, MarkNotificationsReadBody, MarkReadBody, MeInfo, MemberPresence,
  Notification, PostMessageBody, PostSealedTopicMessageBody, PostTopicMessageBody, TopicInfo, TopicMember, TopicMessage, TopicName,
} from '../protocol/v1/api.js';
import { AddEpochSealsBody, EpochAck, EpochDue, EpochRotate, EpochSealsAdded, EpochsPage, PublishEpochBody } from '../protocol/v1/epochs.js';
import { ProtocolError, isErrorCode, type ErrorCode } from '../protocol/v1/errors.js';
import type { EpochPage } from './mesh-client.js';
import type { SealedTopicBody } from './topic-client.js';
import { Backoff } from './backoff.js';
import { httpBaseOf, signedRequest } from './rest-client.js';

/**
 * The REST /api/v1 surface of docs/topics.md for one API key (`new MeshApi(broker, 'cmk_…')`), the
 * signed member routes that mint and revoke keys, and an SSE reader for topic streams. Bodies are
 * checked with the request schemas before they leave, answers with the response schemas when they
 * arrive; every failure is a ProtocolError carrying the broker's code.
 */

export const TopicHistory = z.object({ messages: z.array(TopicMessage), has_more: z.boolean() });
export const TopicPostResult = z.object({ message: TopicMessage, duplicate: z.boolean(), epoch_due: EpochDue.optional() });
export const TopicReadMark = z.object({ topic: TopicName, last_read_id: z.string(), unread: z.number().int().nonnegative() });
export type TopicHistory = z.output<typeof TopicHistory>;
export type TopicPostResult = z.output<typeof TopicPostResult>;
export type TopicReadMark = z.output<typeof TopicReadMark>;

export interface TopicHistoryOptions {
  before?: string;
  after?: string;
  limit?: number;
}

export interface MeshApiOptions {
  /** Aborts every request (and stream) of this client. */
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

export interface StreamOptions {
  /** Resume after this message id (sent as Last-Event-ID). */
  lastEventId?: string;
  signal?: AbortSignal;
  /** Reconnect with the last id seen when the connection drops (not after the broker's `event: error`). */
  reconnect?: boolean;
  /** Called each time the stream is open (status 200), with the id it resumes from. */
  onOpen?: (lastEventId: string | undefined) => void;
  /** Called before a reconnect, with the error that ended the last connection. */
  onReconnect?: (error: unknown, delayMs: number) => void;
  /** `: heartbeat` and other comment lines. */
  onComment?: (text: string) => void;
}

export interface StreamedMessage {
  id: string;
  message: TopicMessage;
}

const json = (body: unknown): string => JSON.stringify(body);

/** Parses a request body with its schema: bad input fails here with E_SCHEMA, before any network. */
function checked<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ProtocolError('E_SCHEMA', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return parsed.data;
}

function answer<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ProtocolError('E_INTERNAL', `the broker's answer to ${what} does not match the protocol: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** The code for an error body without one (a proxy, a broker without this route). */
function statusCode(status: number): ErrorCode {
  if (status === 401) return 'E_UNAUTHORIZED';
  if (status === 403) return 'E_FORBIDDEN';
  if (status === 404) return 'E_NOT_FOUND';
  if (status === 409) return 'E_CONFLICT';
  if (status === 413) return 'E_TOO_LARGE';
  if (status === 429) return 'E_RATE_LIMITED';
  if (status === 503) return 'E_UNAVAILABLE';
  return status >= 400 && status < 500 ? 'E_SCHEMA' : 'E_INTERNAL';
}

async function errorOf(res: Response, what: string): Promise<ProtocolError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const err = (body as { error?: { code?: unknown; message?: unknown; current_epoch?: unknown; rotate?: unknown } } | undefined)?.error;
  if (err && isErrorCode(err.code)) {
    const rotate = EpochRotate.safeParse(err.rotate);
    return new ProtocolError(err.code, typeof err.message === 'string' ? err.message : `HTTP ${res.status}`, {
      ...(typeof err.current_epoch === 'number' ? { current_epoch: err.current_epoch } : {}),
      ...(rotate.success ? { rotate: rotate.data } : {}),
    });
  }
  return new ProtocolError(statusCode(res.status), `HTTP ${res.status} for ${what}${res.status === 404 ? ' (does this broker serve the topics API?)' : ''}`);
}

const seg = (name: string): string => encodeURIComponent(name.replace(/^#/, ''));

/** The topic of an epoch scope `topic:<name>`; the REST routes serve no other scope. */
function topicOfScope(scope: string): string {
  if (!scope.startsWith('topic:')) throw new ProtocolError('E_SCHEMA', `scope ${scope}: the REST API serves topic scopes (topic:<name>) only; use the WebSocket for the mesh scope`);
  return scope.slice('topic:'.length);
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class MeshApi {
  readonly base: string;
  private readonly fetch: typeof fetch;

  constructor(
    brokerUrl: string,
    private readonly key: string,
    private readonly options: MeshApiOptions = {},
  ) {
    this.base = httpBaseOf(brokerUrl);
    // Called as a method of this object: a bare global fetch would lose its `this` (a browser throws "Illegal invocation").
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  private async call<S extends z.ZodType>(schema: S, method: string, path: string, body?: unknown): Promise<z.output<S>> {
    const what = `${method} ${path.replace(/\?.*/, '')}`;
    const res = await this.fetch(`${this.base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${this.key}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: json(body) }),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    if (!res.ok) throw await errorOf(res, what);
    const text = await res.text();
    let value: unknown;
    try {
      value = text ? JSON.parse(text) : {};
    } catch {
      throw new ProtocolError('E_INTERNAL', `the broker's answer to ${what} is not JSON`);
    }
    return answer(schema, value, what);
  }

  async me(): Promise<MeInfo> {
    return this.call(MeInfo, 'GET', '/me');
  }

  async myTopics(): Promise<TopicInfo[]> {
    return this.call(z.array(TopicInfo), 'GET', '/me/topics');
  }

  async myNotifications(opts: { unread?: boolean; limit?: number } = {}): Promise<Notification[]> {
    return this.call(z.array(Notification), 'GET', `/me/notifications${query({ unread: opts.unread, limit: opts.limit })}`);
  }

  /** The newest messages across the topics the key's member joined. */
  async activity(limit?: number): Promise<TopicMessage[]> {
    return this.call(z.array(TopicMessage), 'GET', `/me/activity${query({ limit })}`);
  }

  async topics(): Promise<TopicInfo[]> {
    return this.call(z.array(TopicInfo), 'GET', '/topics');
  }

  async topic(name: string): Promise<TopicInfo> {
    return this.call(TopicInfo, 'GET', `/topics/${seg(name)}`);
  }

  async createTopic(body: z.input<typeof CreateTopicBody>): Promise<TopicInfo> {
    return this.call(TopicInfo, 'POST', '/topics', checked(CreateTopicBody, body));
  }

  async joinTopic(name: string): Promise<TopicInfo> {
    return this.call(TopicInfo, 'POST', `/topics/${seg(name)}/join`, {});
  }

  async leaveTopic(name: string): Promise<{ left: boolean }> {
    return this.call(z.object({ left: z.boolean() }), 'POST', `/topics/${seg(name)}/leave`, {});
  }

  async topicMembers(name: string): Promise<TopicMember[]> {
    return this.call(z.array(TopicMember), 'GET', `/topics/${seg(name)}/members`);
  }

  /** Adds a member (display name or member key) to a topic you are in: the way into a private one. */
  async addTopicMember(name: string, member: string): Promise<TopicMember[]> {
    return this.call(z.array(TopicMember), 'POST', `/topics/${seg(name)}/members`, checked(AddTopicMemberBody, { member }));
  }

  /** A page of history, oldest first: `before` pages back, `after` catches up. */
  async history(name: string, opts: TopicHistoryOptions = {}): Promise<TopicHistory> {
    return this.call(TopicHistory, 'GET', `/topics/${seg(name)}/messages${query({ before: opts.before, after: opts.after, limit: opts.limit })}`);
  }

  /** Posts to a topic (posting joins a public one). A client id makes retries safe; one is made when absent. */
  async post(name: string, body: z.input<typeof PostTopicMessageBody>): Promise<TopicPostResult> {
    return this.call(TopicPostResult, 'POST', `/topics/${seg(name)}/messages`, checked(PostTopicMessageBody, { client_id: randomUUID(), ...body }));
  }

  /**
   * Posts a body_version 2 message to an e2e topic, sealed by this key's member (who must hold its
   * keypair) with `client_id` as the signed message id; a retry with the same body is a duplicate.
   * Rejects with E_EPOCH_STALE (err.details.current_epoch) when key_epoch is not the topic's current epoch.
   */
  async postSealed(name: string, body: z.input<typeof PostSealedTopicMessageBody>): Promise<TopicPostResult> {
    return this.call(TopicPostResult, 'POST', `/topics/${seg(name)}/messages`, checked(PostSealedTopicMessageBody, body));
  }

  /** postSealed as MeshClient.topicSendSealed has it, so the e2e helpers (topicSendEncrypted) take either client. */
  async topicSendSealed(topic: string, id: string, body: SealedTopicBody, options: { replyTo?: string } = {}): Promise<TopicPostResult> {
    const reply = options.replyTo !== undefined ? { reply_to: options.replyTo } : {};
    return this.postSealed(topic, { body_version: 2, client_id: id, ...body, ...reply });
  }

  /** `GET /topics/:name/epochs`: the topic's key epochs after `afterEpoch`, this key's member's seals, and `missing`. */
  async epochs(name: string, afterEpoch?: number): Promise<EpochsPage> {
    return this.call(EpochsPage, 'GET', `/topics/${seg(name)}/epochs${query({ after_epoch: afterEpoch })}`);
  }

  /** epochs() as MeshClient.getEpochs has it (scope `topic:<name>`: REST serves topic scopes only). */
  async getEpochs(scope: string, afterEpoch?: number): Promise<EpochPage> {
    const page = await this.epochs(topicOfScope(scope), afterEpoch);
    return {
      scope: page.scope, currentEpoch: page.current_epoch, manifests: page.manifests, seals: page.seals, hasMore: page.has_more,
      ...(page.missing !== undefined ? { missing: page.missing } : {}),
      ...(page.rotate !== undefined ? { rotate: page.rotate } : {}),
    };
  }

  /**
   * Publishes the next epoch of a topic (the manifest's scope) with seals made by this key's member,
   * as MeshClient.publishEpoch. Rejects with E_EPOCH_CONFLICT (err.details.current_epoch) when
   * another epoch was published first (publishRotation rebuilds on it).
   */
  async publishEpoch(signed: SignedEpochManifest, seals: readonly EpochSeal[] = []): Promise<{ scope: string; epoch: number; manifestHash: string }> {
    const body = checked(PublishEpochBody, { manifest: signed, seals });
    const ack = await this.call(EpochAck, 'POST', `/topics/${seg(topicOfScope(signed.manifest.scope))}/epochs`, body);
    return { scope: ack.scope, epoch: ack.epoch, manifestHash: ack.manifest_hash };
  }

  /** Seals an existing epoch's key for members that lack it; resolves with how many were stored. */
  async addSeals(scope: string, epoch: number, seals: ReadonlyArray<EpochSeal | EpochHistorySeal>): Promise<number> {
    const body = checked(AddEpochSealsBody, { seals });
    return (await this.call(EpochSealsAdded, 'POST', `/topics/${seg(topicOfScope(scope))}/epochs/${epoch}/seals`, body)).stored;
  }

  /** `POST /messages`: the same as post, addressed by `topic` in the body. */
  async postMessage(body: z.input<typeof PostMessageBody>): Promise<TopicPostResult> {
    return this.call(TopicPostResult, 'POST', '/messages', checked(PostMessageBody, { client_id: randomUUID(), ...body }));
  }

  /** `GET /messages?topic=`: the same as history. */
  async messages(topic: string, opts: TopicHistoryOptions = {}): Promise<TopicHistory> {
    return this.call(TopicHistory, 'GET', `/messages${query({ topic: topic.replace(/^#/, ''), before: opts.before, after: opts.after, limit: opts.limit })}`);
  }

  async markRead(name: string, messageId?: string): Promise<TopicReadMark> {
    return this.call(TopicReadMark, 'PATCH', `/topics/${seg(name)}/read`, checked(MarkReadBody, messageId === undefined ? {} : { message_id: messageId }));
  }

  /**
   * Every active member with presence: WebSocket sessions and REST activity, humans included. With
   * `tag`, only the members with a live session advertising it (docs/protocol.md §5.7).
   */
  async members(opts: { tag?: string } = {}): Promise<MemberPresence[]> {
    return this.call(z.array(MemberPresence), 'GET', `/members${query({ tag: opts.tag })}`);
  }

  async notifications(opts: { unread?: boolean; limit?: number } = {}): Promise<Notification[]> {
    return this.call(z.array(Notification), 'GET', `/notifications${query({ unread: opts.unread, limit: opts.limit })}`);
  }

  /** Marks these notifications read, or all of them without ids. */
  async markNotificationsRead(ids?: string[]): Promise<{ marked: number }> {
    return this.call(z.object({ marked: z.number().int().nonnegative() }), 'POST', '/notifications/read', checked(MarkNotificationsReadBody, ids === undefined ? {} : { ids }));
  }

  async search(q: string, opts: { topic?: string; limit?: number } = {}): Promise<TopicMessage[]> {
    return this.call(z.array(TopicMessage), 'GET', `/search${query({ q, topic: opts.topic?.replace(/^#/, ''), limit: opts.limit })}`);
  }

  /** Key management over REST (needs an `admin` key). */
  async apiKeys(): Promise<ApiKeyInfo[]> {
    return this.call(z.array(ApiKeyInfo), 'GET', '/apikeys');
  }

  async createApiKey(body: CreateApiKeyBody): Promise<CreatedApiKey> {
    return this.call(CreatedApiKey, 'POST', '/apikeys', checked(CreateApiKeyBody, body));
  }

  async revokeApiKey(id: string): Promise<ApiKeyInfo> {
    return this.call(ApiKeyInfo, 'DELETE', `/apikeys/${encodeURIComponent(id)}`);
  }

  /**
   * Follows `GET /topics/:name/stream`: yields each message as it is committed. Ends when `signal`
   * aborts (quietly) or the connection closes (unless `reconnect`); throws the broker's error for a
   * refused request or an `event: error`. With `reconnect`, a dropped connection is resumed from the
   * last id seen, so nothing is missed or repeated.
   */
  async *stream(name: string, opts: StreamOptions = {}): AsyncGenerator<StreamedMessage, void, undefined> {
    const signal = opts.signal && this.options.signal ? AbortSignal.any([opts.signal, this.options.signal]) : (opts.signal ?? this.options.signal);
    const path = `/topics/${seg(name)}/stream`;
    let last = opts.lastEventId;
    const backoff = new Backoff(250, 10_000);
    let retryMs: number | undefined;
    for (;;) {
      // Why this connection ended, when it is worth another one (with `reconnect`).
      let dropped: unknown;
      try {
        const res = await this.fetch(`${this.base}/api/v1${path}`, {
          headers: { authorization: `Bearer ${this.key}`, accept: 'text/event-stream', ...(last ? { 'last-event-id': last } : {}) },
          ...(signal ? { signal } : {}),
        });
        if (!res.ok) {
          const error = await errorOf(res, `GET ${path}`);
          // Only a broker that is unavailable is worth retrying; a refusal stays a refusal.
          if (!opts.reconnect || (res.status < 500 && res.status !== 429)) throw error;
          dropped = error;
        } else if (!res.body || !/^text\/event-stream/.test(res.headers.get('content-type') ?? '')) {
          throw new ProtocolError('E_INTERNAL', `GET ${path} did not answer with an event stream`);
        } else {
          opts.onOpen?.(last);
          backoff.reset();
          for await (const ev of parseSse(res.body)) {
            if (ev.comment !== undefined) {
              opts.onComment?.(ev.comment);
              continue;
            }
            if (ev.retry !== undefined) retryMs = ev.retry;
            if (ev.event === 'error') throw streamError(ev.data);
            if (ev.event !== 'message' || ev.data === '') continue;
            const message = answer(TopicMessage, parseJson(ev.data, `the stream of #${name}`), `GET ${path}`);
            // An event without an id (a late commit sent live) does not move the resume point.
            if (ev.id !== undefined) last = ev.id;
            yield { id: ev.id ?? message.id, message };
          }
          if (!opts.reconnect) return;
          dropped = new ProtocolError('E_UNAVAILABLE', `the broker closed the stream of #${name}`);
        }
      } catch (error) {
        if (signal?.aborted) return;
        // The broker's own errors end the stream; a network failure is a drop.
        if (error instanceof ProtocolError || !opts.reconnect) throw error;
        dropped = error;
      }
      const delay = retryMs ?? backoff.next();
      opts.onReconnect?.(dropped, delay);
      await sleep(delay, signal);
      if (signal?.aborted) return;
    }
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProtocolError('E_INTERNAL', `${what} sent an event that is not JSON`);
  }
}

function streamError(data: string): ProtocolError {
  try {
    const e = JSON.parse(data) as { code?: unknown; message?: unknown };
    return new ProtocolError(isErrorCode(e.code) ? e.code : 'E_INTERNAL', typeof e.message === 'string' ? e.message : 'the stream ended with an error');
  } catch {
    return new ProtocolError('E_INTERNAL', `the stream ended with an error: ${data}`);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One dispatched SSE event (`comment` set instead for a `:` line). `id` is the last event id so far. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
  retry?: number;
  comment?: string;
}

/**
 * The event-stream format (WHATWG HTML §9.2.6): lines end in CRLF, LF or CR; `field: value` with one
 * optional space; `data` lines joined by LF; a blank line dispatches; the id persists between events.
 */
export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent, void, undefined> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let first = true;
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  let retry: number | undefined;
  let pendingCr = false;
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    if (first && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      first = false;
    }
    if (pendingCr && buffer.startsWith('\n')) buffer = buffer.slice(1);
    pendingCr = false;
    let at: number;
    while ((at = buffer.search(/[\r\n]/)) !== -1) {
      const line = buffer.slice(0, at);
      if (buffer[at] === '\r') {
        if (at + 1 === buffer.length) pendingCr = true; // a CRLF split across chunks
        else if (buffer[at + 1] === '\n') at += 1;
      }
      buffer = buffer.slice(at + 1);
      if (line === '') {
        if (data.length > 0 || retry !== undefined) {
          yield { event: event || 'message', data: data.join('\n'), ...(id !== undefined ? { id } : {}), ...(retry !== undefined ? { retry } : {}) };
        }
        event = '';
        data = [];
        retry = undefined;
        continue;
      }
      if (line.startsWith(':')) {
        yield { event: '', data: '', comment: line.slice(1).replace(/^ /, '') };
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\u0000')) id = value;
      else if (field === 'retry' && /^[0-9]+$/.test(value)) retry = Number(value);
    }
  }
  // A final event without its blank line is not dispatched (the spec drops it).
}

// ---------------------------------------------------------------------------------------------
// Signed member routes (protocol §4.5): how a member with its own key mints, lists and revokes keys.

export async function createApiKey(brokerUrl: string, identity: Identity, meshId: string, body: CreateApiKeyBody): Promise<CreatedApiKey> {
  const raw = await signedRequest<unknown>(brokerUrl, identity, meshId, 'POST', `/api/v1/meshes/${meshId}/apikeys`, checked(CreateApiKeyBody, body));
  return answer(CreatedApiKey, raw, 'POST /apikeys');
}

export async function listApiKeys(brokerUrl: string, identity: Identity, meshId: string): Promise<ApiKeyInfo[]> {
  return answer(z.array(ApiKeyInfo), await signedRequest<unknown>(brokerUrl, identity, meshId, 'GET', `/api/v1/meshes/${meshId}/apikeys`), 'GET /apikeys');
}

export async function revokeApiKey(brokerUrl: string, identity: Identity, meshId: string, keyId: string): Promise<ApiKeyInfo> {
  const raw = await signedRequest<unknown>(brokerUrl, identity, meshId, 'DELETE', `/api/v1/meshes/${meshId}/apikeys/${encodeURIComponent(keyId)}`);
  return answer(ApiKeyInfo, raw, 'DELETE /apikeys/:id');
}
