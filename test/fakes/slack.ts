/**
 * A local fake of Slack's Web API and Socket Mode, for driving a real client (@slack/bolt:
 * `clientOptions: { slackApiUrl: fake.slackApiUrl }`) without reaching slack.com.
 *
 * Web API (https://api.slack.com/web): POST `<slackApiUrl><method>` with the token as
 * `Authorization: Bearer` (or a `token` field), form or JSON body; answers `{ ok: true, … }` or
 * `{ ok: false, error }`. Covered: auth.test, chat.postMessage (thread_ts), conversations.info,
 * users.info, apps.connections.open (app-level `xapp-` token only). A rate-limited method answers
 * HTTP 429 with `Retry-After` and `{ ok: false, error: 'ratelimited' }`, as Slack does; a refused
 * one (refuseNext) answers 200 `{ ok: false, error }`.
 *
 * Socket Mode (https://api.slack.com/apis/socket-mode): apps.connections.open hands out a one-use
 * `ws://127.0.0.1:<port>/link/?ticket=…` URL; on connect the fake sends `hello`; the test pushes
 * `events_api` envelopes and the fake records the client's acks (`{ envelope_id, payload? }`); an
 * envelope left unacked can be sent again (redeliver: new envelope_id, same event_id).
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { sendJson, startLocalServer, type ParsedRequest } from './http.js';

export interface SlackCall {
  method: string;
  body: Record<string, unknown>;
  /** The token the call carried (header or field). */
  token: string | undefined;
  status: number;
}

export interface SlackPostedMessage {
  channel: string;
  text: string | undefined;
  ts: string;
  thread_ts?: string;
  body: Record<string, unknown>;
}

export interface SlackEnvelope {
  envelope_id: string;
  type: 'events_api';
  accepts_response_payload: boolean;
  retry_attempt: number;
  retry_reason: string;
  payload: SlackEventCallback;
}

export interface SlackEventCallback {
  token: string;
  team_id: string;
  api_app_id: string;
  event: Record<string, unknown>;
  type: 'event_callback';
  event_id: string;
  event_time: number;
  authorizations: Array<Record<string, unknown>>;
  is_ext_shared_channel: boolean;
  event_context: string;
}

export interface SlackAck {
  envelope_id: string;
  payload?: unknown;
}

export interface FakeSlack {
  /** For bolt's `clientOptions.slackApiUrl` (ends in `/`, like the default `https://slack.com/api/`). */
  slackApiUrl: string;
  team: { id: string; name: string; domain: string };
  /** The bot user that auth.test reports for the bot token; bolt ignores events from it. */
  botUser: { user_id: string; bot_id: string; name: string };
  appId: string;
  /** Every Web API call, in order (including those answered 429). */
  calls: SlackCall[];
  /** chat.postMessage calls that were answered ok. */
  posted: SlackPostedMessage[];
  acks: SlackAck[];
  /** Resolves once a Socket Mode client is connected and has been sent `hello`. */
  connected(): Promise<void>;
  /** Sends an `events_api` envelope to the connected Socket Mode client (waits for one). A `message` event gets channel/user/ts defaults. */
  pushEvent(event: Record<string, unknown>, options?: { acceptsResponsePayload?: boolean; retryAttempt?: number }): Promise<SlackEnvelope>;
  /** Resolves with the client's ack of an envelope. */
  waitForAck(envelopeId: string): Promise<SlackAck>;
  /** Resolves once chat.postMessage has been answered ok `count` times in total. */
  waitForPosts(count?: number): Promise<SlackPostedMessage[]>;
  /** Sends the same event callback again in a new envelope, as Slack does when an envelope went unacknowledged (same `event_id`). */
  redeliver(envelope: SlackEnvelope, options?: { retryAttempt?: number }): Promise<SlackEnvelope>;
  /** The next `n` calls of `method` answer HTTP 429 with `Retry-After: retryAfterSeconds`. */
  failNext(method: string, n: number, retryAfterSeconds: number): void;
  /** The next `n` calls of `method` answer HTTP 200 `{ ok: false, error }` (`not_in_channel`, `is_archived`, `user_not_found`, …). */
  refuseNext(method: string, error: string, n?: number): void;
  /** Socket Mode connections open on the fake's side. */
  openSockets(): number;
  /** Asks connected clients to reconnect, as Slack does before rotating a connection (`refresh_requested`, `warning`, …). */
  disconnectAll(reason?: string): void;
  close(): Promise<void>;
}

export interface FakeSlackOptions {
  /** Accepted bot token; by default any `xoxb-` token. */
  botToken?: string;
  /** Accepted app-level token for apps.connections.open; by default any `xapp-` token. */
  appToken?: string;
}

export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlack> {
  const team = { id: 'T0FAKE0001', name: 'Mesh Test', domain: 'mesh-test' };
  const botUser = { user_id: 'U0BOT00001', bot_id: 'B0BOT00001', name: 'meshbot' };
  const appId = 'A0FAKEAPP1';
  const calls: SlackCall[] = [];
  const posted: SlackPostedMessage[] = [];
  const acks: SlackAck[] = [];
  const failures = new Map<string, { left: number; retryAfter: number }>();
  const refusals = new Map<string, { left: number; error: string }>();
  const tickets = new Set<string>();
  const sockets = new Set<WebSocket>();
  const ready: WebSocket[] = [];
  const readyWaiters: Array<() => void> = [];
  const ackWaiters = new Map<string, (ack: SlackAck) => void>();
  const postWaiters: Array<{ count: number; resolve: (p: SlackPostedMessage[]) => void }> = [];
  let tsSeq = 0;

  // Slack timestamps are "<unix seconds>.<6 digits>" and unique per channel; a counter keeps them unique here.
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++tsSeq).padStart(6, '0')}`;

  const tokenOf = (req: ParsedRequest): string | undefined => {
    const auth = req.headers['authorization'];
    if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
    return typeof req.body['token'] === 'string' ? req.body['token'] : undefined;
  };
  const botTokenOk = (t: string | undefined) => (options.botToken !== undefined ? t === options.botToken : t?.startsWith('xoxb-') === true);
  const appTokenOk = (t: string | undefined) => (options.appToken !== undefined ? t === options.appToken : t?.startsWith('xapp-') === true);

  const ok = (res: ServerResponse, body: Record<string, unknown> = {}) => sendJson(res, 200, { ok: true, ...body });
  const err = (res: ServerResponse, error: string, status = 200) => sendJson(res, status, { ok: false, error });

  let wsUrlBase = '';
  const local = await startLocalServer((req, res) => {
    const m = /^\/api\/([a-zA-Z.]+)$/.exec(req.path);
    if (!m) return err(res, 'unknown_method', 404);
    const method = m[1]!;
    const token = tokenOf(req);
    const failure = failures.get(method);
    const injected = failure !== undefined && failure.left > 0;
    calls.push({ method, body: req.body, token, status: injected ? 429 : 200 });
    if (injected) {
      failure.left -= 1;
      return sendJson(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(failure.retryAfter) });
    }
    if (token === undefined) return err(res, 'not_authed');
    const refusal = refusals.get(method);
    if (refusal !== undefined && refusal.left > 0) {
      refusal.left -= 1;
      return err(res, refusal.error);
    }

    if (method === 'apps.connections.open') {
      if (!appTokenOk(token)) return err(res, token.startsWith('xapp-') ? 'invalid_auth' : 'not_allowed_token_type');
      const ticket = randomUUID();
      tickets.add(ticket);
      return ok(res, { url: `${wsUrlBase}/link/?ticket=${ticket}&app_id=${appId}` });
    }
    if (!botTokenOk(token)) return err(res, token.startsWith('xapp-') ? 'not_allowed_token_type' : 'invalid_auth');

    switch (method) {
      case 'auth.test':
        return ok(res, {
          url: `https://${team.domain}.slack.com/`,
          team: team.name,
          user: botUser.name,
          team_id: team.id,
          user_id: botUser.user_id,
          bot_id: botUser.bot_id,
          is_enterprise_install: false,
        });
      case 'chat.postMessage': {
        const channel = req.body['channel'];
        if (typeof channel !== 'string' || channel === '') return err(res, 'channel_not_found');
        const text = typeof req.body['text'] === 'string' ? req.body['text'] : undefined;
        if (!text && req.body['blocks'] === undefined && req.body['attachments'] === undefined) return err(res, 'no_text');
        const ts = nextTs();
        const threadTs = typeof req.body['thread_ts'] === 'string' ? req.body['thread_ts'] : undefined;
        const p: SlackPostedMessage = { channel, text, ts, ...(threadTs ? { thread_ts: threadTs } : {}), body: req.body };
        posted.push(p);
        for (const w of [...postWaiters]) {
          if (posted.length >= w.count) {
            postWaiters.splice(postWaiters.indexOf(w), 1);
            w.resolve(posted.slice());
          }
        }
        const message: Record<string, unknown> = { type: 'message', user: botUser.user_id, bot_id: botUser.bot_id, text: text ?? '', ts, team: team.id };
        if (threadTs) message['thread_ts'] = threadTs;
        return ok(res, { channel, ts, message });
      }
      case 'conversations.info': {
        const id = String(req.body['channel'] ?? '');
        if (id === '') return err(res, 'channel_not_found');
        const im = id.startsWith('D');
        return ok(res, {
          channel: { id, name: im ? undefined : `chan-${id.toLowerCase()}`, is_channel: id.startsWith('C'), is_group: id.startsWith('G'), is_im: im, is_private: !id.startsWith('C'), is_member: true, created: 1700000000 },
        });
      }
      case 'users.info': {
        const id = String(req.body['user'] ?? '');
        if (id === '') return err(res, 'user_not_found');
        const name = `user-${id.toLowerCase()}`;
        return ok(res, {
          user: { id, team_id: team.id, name, real_name: name, is_bot: id === botUser.user_id, deleted: false, profile: { display_name: name, real_name: name } },
        });
      }
      default:
        return err(res, 'unknown_method', 404);
    }
  });
  wsUrlBase = `ws://127.0.0.1:${local.port}`;

  const wss = new WebSocketServer({ noServer: true });
  local.server.on('upgrade', (incoming, socket, head) => {
    const url = new URL(incoming.url ?? '/', 'http://127.0.0.1');
    const ticket = url.searchParams.get('ticket') ?? '';
    // A ticket from apps.connections.open is good for one connection, like Slack's.
    if (url.pathname !== '/link/' || !tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(incoming, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => {
        sockets.delete(ws);
        const i = ready.indexOf(ws);
        if (i >= 0) ready.splice(i, 1);
      });
      ws.on('message', (data) => {
        let msg: unknown;
        try {
          msg = JSON.parse(String(data));
        } catch {
          return;
        }
        if (msg && typeof msg === 'object' && typeof (msg as SlackAck).envelope_id === 'string') {
          const ack = msg as SlackAck;
          acks.push(ack);
          ackWaiters.get(ack.envelope_id)?.(ack);
          ackWaiters.delete(ack.envelope_id);
        }
      });
      ws.send(
        JSON.stringify({
          type: 'hello',
          num_connections: sockets.size,
          debug_info: { host: 'fake-slack', build_number: 1, approximate_connection_time: 18060 },
          connection_info: { app_id: appId },
        }),
      );
      ready.push(ws);
      for (const w of readyWaiters.splice(0)) w();
    });
  });

  const connected = () => (ready.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => readyWaiters.push(resolve)));

  return {
    slackApiUrl: `http://127.0.0.1:${local.port}/api/`,
    team,
    botUser,
    appId,
    calls,
    posted,
    acks,
    connected,
    async pushEvent(event, opts = {}) {
      await connected();
      const payload = slackEventCallback(event, { teamId: team.id, appId, botUserId: botUser.user_id, nextTs });
      const envelope: SlackEnvelope = {
        envelope_id: randomUUID(),
        type: 'events_api',
        accepts_response_payload: opts.acceptsResponsePayload ?? false,
        retry_attempt: opts.retryAttempt ?? 0,
        retry_reason: opts.retryAttempt ? 'timeout' : '',
        payload,
      };
      ready[ready.length - 1]!.send(JSON.stringify(envelope));
      return envelope;
    },
    async redeliver(previous, opts = {}) {
      await connected();
      const envelope: SlackEnvelope = {
        ...previous,
        envelope_id: randomUUID(),
        retry_attempt: opts.retryAttempt ?? previous.retry_attempt + 1,
        retry_reason: 'timeout',
      };
      ready[ready.length - 1]!.send(JSON.stringify(envelope));
      return envelope;
    },
    waitForAck(envelopeId) {
      const done = acks.find((a) => a.envelope_id === envelopeId);
      if (done) return Promise.resolve(done);
      return new Promise<SlackAck>((resolve) => ackWaiters.set(envelopeId, resolve));
    },
    waitForPosts(count = 1) {
      if (posted.length >= count) return Promise.resolve(posted.slice());
      return new Promise<SlackPostedMessage[]>((resolve) => postWaiters.push({ count, resolve }));
    },
    failNext(method, n, retryAfterSeconds) {
      failures.set(method, { left: n, retryAfter: retryAfterSeconds });
    },
    refuseNext(method, error, n = 1) {
      refusals.set(method, { left: n, error });
    },
    openSockets: () => sockets.size,
    disconnectAll(reason = 'refresh_requested') {
      for (const ws of ready.splice(0)) ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'fake-slack' } }));
    },
    async close() {
      // A closing handshake, not a cut: a client cut off mid-stop logs a WebSocket error into whichever test runs next.
      await Promise.all(
        [...sockets].map(
          (ws) =>
            new Promise<void>((resolve) => {
              const force = setTimeout(() => ws.terminate(), 2000);
              ws.once('close', () => {
                clearTimeout(force);
                resolve();
              });
              ws.close(1001, 'going away');
            }),
        ),
      );
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await local.close();
    },
  };
}

/**
 * The `event_callback` body Slack sends for an Events API event — over Socket Mode inside an
 * envelope's `payload`, over HTTP as the request body (sign it with signSlackRequest).
 * A `message` event without channel/user/ts gets defaults.
 */
export function slackEventCallback(
  event: Record<string, unknown>,
  ids: { teamId?: string; appId?: string; botUserId?: string; nextTs?: () => string } = {},
): SlackEventCallback {
  const teamId = ids.teamId ?? 'T0FAKE0001';
  const ts = typeof event['ts'] === 'string' ? event['ts'] : (ids.nextTs ?? (() => `${Math.floor(Date.now() / 1000)}.000001`))();
  const full: Record<string, unknown> =
    event['type'] === 'message'
      ? { channel: 'C0CHANNEL1', user: 'U0HUMAN001', channel_type: 'channel', team: teamId, ...event, ts, event_ts: event['event_ts'] ?? ts }
      : { event_ts: ts, ...event };
  return {
    token: 'fake-verification-token',
    team_id: teamId,
    api_app_id: ids.appId ?? 'A0FAKEAPP1',
    event: full,
    type: 'event_callback',
    event_id: `Ev${randomUUID().replace(/-/g, '').slice(0, 10).toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: teamId, user_id: ids.botUserId ?? 'U0BOT00001', is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
    event_context: `4-fake-${randomUUID()}`,
  };
}

/**
 * The headers Slack signs an HTTP request with: `v0=` HMAC-SHA256(signing secret, `v0:<ts>:<raw body>`).
 * `ts` defaults to now (seconds); receivers refuse timestamps more than 5 minutes off.
 */
export function signSlackRequest(secret: string, rawBody: string | Buffer, ts: number = Math.floor(Date.now() / 1000)): { 'x-slack-signature': string; 'x-slack-request-timestamp': string } {
  const mac = createHmac('sha256', secret).update(`v0:${ts}:`).update(rawBody).digest('hex');
  return { 'x-slack-signature': `v0=${mac}`, 'x-slack-request-timestamp': String(ts) };
}
