/**
 * The Slack surface of the chat gateway (docs/gateways.md): @slack/bolt in Socket Mode or behind an
 * HTTP request URL for events, Slack's WebClient for sending. Whatever mode, an event is acknowledged
 * to Slack only after the gateway took it over, so a failed delivery is sent again by Slack.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PermanentSendError, RetryAfter, type ChatInbound, type ChatOutbound, type Surface, type SurfaceStatus } from '@claudemesh/gateway';
import { App, HTTPReceiver, webApi } from '@slack/bolt';
import { AckAfterDeliveryReceiver } from './ack-after-delivery.receiver.js';
import { resolveSlackSecrets, SlackSurfaceConfig } from './slack-config.js';
import { redactor, showValue, slackLogger } from './slack-log.js';
import { plainText, readMessage, slackEscape } from './slack-message.js';

export { SlackSurfaceConfig } from './slack-config.js';

/** Slack truncates `text` far later (40,000), but advises 4,000 characters for readable messages. */
export const SLACK_MAX_TEXT = 4000;

/** Refusals of chat.postMessage that no retry changes: wrong or archived channel, dead token, missing grant. */
const PERMANENT_SEND_ERRORS = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_auth',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'not_authed',
  'missing_scope',
  'restricted_action',
  'msg_too_long',
  'no_text',
]);

/** Cap of the users.info cache; a workspace's active speakers fit easily. */
const NAME_CACHE_MAX = 5000;
/** How long stop() lets a delivery under way finish (and be acknowledged) before closing the socket or server. */
const STOP_DRAIN_MS = 5000;
/** A Web API call that hangs longer than this fails, and the gateway core's retry takes over. */
const WEB_API_TIMEOUT_MS = 30_000;

export interface SlackSurfaceOptions {
  log(line: string): void;
  /** Where the adapter may keep state; Slack keeps unacknowledged events itself, so nothing is stored yet. */
  stateDir: string;
  env?: NodeJS.ProcessEnv;
}

export interface SlackSurface extends Surface {
  /** HTTP mode: where the events endpoint listens (with `port: 0`, the port picked); null otherwise. */
  address(): AddressInfo | null;
}

interface Running {
  stop(): Promise<void>;
  connected(): boolean;
  address(): AddressInfo | null;
}

/** A delivery the gateway refused, already logged: the receivers only need to withhold the ack. */
class NotTakenOver extends Error {
  // Bolt passes errors with a code through unwrapped, so the receivers can recognise this one.
  readonly code = 'claudemesh_not_taken_over';
}

interface CodedError {
  code?: unknown;
  retryAfter?: unknown;
  data?: { error?: unknown };
}

export function createSlackSurface(config: SlackSurfaceConfig, opts: SlackSurfaceOptions): SlackSurface {
  const cfg = SlackSurfaceConfig.parse(config);
  const secrets = resolveSlackSecrets(cfg, opts.env ?? process.env);
  const redact = redactor([secrets.botToken, secrets.appToken, secrets.signingSecret]);
  const log = (line: string) => opts.log(redact(line));
  const logger = slackLogger(opts.log, redact);
  const slackApiUrl = cfg.api_url === undefined ? undefined : cfg.api_url.endsWith('/') ? cfg.api_url : `${cfg.api_url}/`;
  // The gateway core owns retries and backoff: the client neither retries nor sleeps through a 429.
  const clientOptions = (): webApi.WebClientOptions => ({
    ...(slackApiUrl !== undefined ? { slackApiUrl } : {}),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: WEB_API_TIMEOUT_MS,
  });
  const web = new webApi.WebClient(secrets.botToken, { ...clientOptions(), logger });

  let running: Running | undefined;
  let starting = false;
  let lastEventAt: string | null = null;
  let lastError: string | null = null;
  const noteError = (what: string, error: unknown) => {
    lastError = redact(`${what}: ${showValue(error)}`);
    log(`slack: ${lastError}`);
  };

  const names = new Map<string, string>();
  const nameOf = async (user: string): Promise<string> => {
    const cached = names.get(user);
    if (cached !== undefined) return cached;
    try {
      const res = await web.users.info({ user });
      const name = res.user?.real_name || res.user?.name || user;
      if (names.size >= NAME_CACHE_MAX) names.delete(names.keys().next().value!);
      names.set(user, name);
      return name;
    } catch (error) {
      // A name is a courtesy: without users:read, or while rate limited, the user id stands in (not cached, so it heals).
      log(`slack: users.info ${user}: ${showValue(error)}`);
      return user;
    }
  };

  const toInbound = async (body: unknown): Promise<ChatInbound | null> => {
    const m = readMessage(body);
    if ('skip' in m) return null;
    const { markup, ...rest } = m;
    return { ...rest, userName: await nameOf(m.user), text: await plainText(markup, nameOf) };
  };

  const buildApp = (receiver: AckAfterDeliveryReceiver | HTTPReceiver, bot: { botId: string; botUserId: string }, deliver: (m: ChatInbound) => Promise<void>) => {
    // Bot ids given up front: Bolt then never calls auth.test per event, whose failure would ack and drop the event.
    const app = new App({ token: secrets.botToken, ...bot, receiver, logger, clientOptions: clientOptions(), convoStore: false, ignoreSelf: true });
    app.use(async ({ next }) => {
      lastEventAt = new Date().toISOString();
      await next();
    });
    let mapping: Promise<unknown> = Promise.resolve();
    app.event('message', async ({ body }) => {
      // Names are looked up one message at a time, so deliver sees messages in the order Slack sent them.
      const mapped = mapping.then(() => toInbound(body));
      mapping = mapped.catch(() => undefined);
      const inbound = await mapped;
      if (inbound === null) return;
      try {
        await deliver(inbound);
      } catch (error) {
        noteError(`event ${inbound.dedupeId} not taken over, left for Slack to send again`, error);
        throw new NotTakenOver(inbound.dedupeId, { cause: error });
      }
    });
    // Rethrown so that processEvent rejects: no ack over the socket, a 500 over HTTP.
    app.error(async (error) => {
      throw error;
    });
    return app;
  };

  const startSocket = async (deliver: (m: ChatInbound) => Promise<void>, bot: { botId: string; botUserId: string }): Promise<Running> => {
    const receiver = new AckAfterDeliveryReceiver({
      appToken: required(secrets.appToken, 'app_token'),
      logger,
      ...(slackApiUrl !== undefined ? { slackApiUrl } : {}),
      drainMs: STOP_DRAIN_MS,
      onError: (error, envelopeId) => {
        if (!(error instanceof NotTakenOver)) noteError(envelopeId !== undefined ? `envelope ${envelopeId}` : 'socket', error);
      },
    });
    buildApp(receiver, bot, deliver);
    try {
      await receiver.start();
    } catch (error) {
      await receiver.stop().catch(() => undefined);
      throw error;
    }
    return { stop: () => receiver.stop(), connected: () => receiver.connected, address: () => null };
  };

  const startHttp = async (deliver: (m: ChatInbound) => Promise<void>, bot: { botId: string; botUserId: string }): Promise<Running> => {
    const receiver = new HTTPReceiver({
      signingSecret: required(secrets.signingSecret, 'signing_secret'),
      endpoints: [cfg.path],
      // The 200 waits for the listener, hence for deliver; a rejection answers 500 and Slack retries.
      processBeforeResponse: true,
      logger,
      processEventErrorHandler: async ({ error, response }) => {
        if (!(error instanceof NotTakenOver)) noteError('event', error);
        if (!response.headersSent) response.writeHead(500).end();
        return false;
      },
    });
    buildApp(receiver, bot, deliver);
    const server: Server = await receiver.start({ port: cfg.port, host: cfg.listen_host });
    return {
      connected: () => server.listening,
      address: () => (server.listening ? (server.address() as AddressInfo) : null),
      stop: async () => {
        const closed = receiver.stop();
        server.closeIdleConnections();
        let grace: NodeJS.Timeout | undefined;
        const cut = new Promise<void>((resolve) => {
          grace = setTimeout(resolve, STOP_DRAIN_MS);
        });
        await Promise.race([closed, cut]);
        clearTimeout(grace);
        server.closeAllConnections();
        await closed;
      },
    };
  };

  return {
    name: 'slack',
    maxText: SLACK_MAX_TEXT,

    async start(deliver) {
      if (running !== undefined || starting) throw new Error('slack: already started');
      starting = true;
      try {
        const auth = await web.auth.test().catch((error: unknown) => {
          throw new Error(`slack: the bot token was not accepted (auth.test: ${redact(showValue(platformCode(error) ?? error))})`);
        });
        if (!auth.user_id || !auth.bot_id) throw new Error('slack: auth.test named no bot user; bot_token must be a bot token (xoxb-…)');
        const bot = { botId: auth.bot_id, botUserId: auth.user_id };
        running = cfg.mode === 'socket' ? await startSocket(deliver, bot) : await startHttp(deliver, bot);
        lastError = null;
        log(cfg.mode === 'socket' ? 'slack: connected over Socket Mode' : `slack: events endpoint listening on ${cfg.listen_host}:${running.address()?.port ?? cfg.port}${cfg.path}`);
      } catch (error) {
        const message = error instanceof Error && error.message.startsWith('slack:') ? error.message : `slack: could not start (${cfg.mode} mode): ${showValue(platformCode(error) ?? error)}`;
        lastError = redact(message);
        throw new Error(redact(message));
      } finally {
        starting = false;
      }
    },

    async send(m: ChatOutbound) {
      try {
        const res = await web.chat.postMessage({
          channel: m.chat,
          text: slackEscape(m.text),
          ...(m.thread !== undefined ? { thread_ts: m.thread } : {}),
          unfurl_links: false,
          unfurl_media: false,
        });
        if (!res.ts) throw new Error('slack: chat.postMessage answered without a ts');
        return { messageId: res.ts };
      } catch (error) {
        const e = error as CodedError;
        if (e.code === webApi.ErrorCode.RateLimitedError && typeof e.retryAfter === 'number') throw new RetryAfter(e.retryAfter * 1000);
        const code = platformCode(error);
        if (code !== undefined && PERMANENT_SEND_ERRORS.has(code)) {
          lastError = `send to ${m.chat}: ${code}`;
          throw new PermanentSendError(`slack: chat.postMessage to ${m.chat} refused: ${code}`);
        }
        lastError = redact(`send to ${m.chat}: ${showValue(error)}`);
        throw error;
      }
    },

    async stop() {
      const r = running;
      running = undefined;
      await r?.stop();
    },

    status(): SurfaceStatus {
      return { connected: running?.connected() ?? false, mode: cfg.mode, last_event_at: lastEventAt, last_error: lastError };
    },

    address() {
      return running?.address() ?? null;
    },
  };
}

function required(secret: string | undefined, name: string): string {
  if (secret === undefined) throw new Error(`slack: ${name} or ${name}_env is required in this mode`);
  return secret;
}

/** The `error` of a Web API refusal (`{ ok: false, error }`), if that is what it was. */
function platformCode(error: unknown): string | undefined {
  const e = error as CodedError | null;
  return e?.code === webApi.ErrorCode.PlatformError && typeof e.data?.error === 'string' ? e.data.error : undefined;
}
