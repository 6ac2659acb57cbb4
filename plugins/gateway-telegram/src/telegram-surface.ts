/**
 * The Telegram surface of the chat gateway (docs/gateways.md): a bot, by long polling or a webhook,
 * on grammY's Api client. Receiving acknowledges an update only once the gateway took it over.
 */
import type { ChatInbound, Surface } from '@claudemesh/gateway';
import { SurfaceHealth } from './surface-health.js';
import { resolveSecret } from './secret.js';
import { createTelegramApi } from './telegram-api.js';
import { BOT_TOKEN_RE, SECRET_TOKEN_RE, TelegramSurfaceConfig } from './telegram-config.js';
import { TelegramOffsetStore } from './telegram-offset.store.js';
import { TelegramPoller } from './telegram-poller.js';
import { sendTelegramText } from './telegram-send.js';
import { TelegramWebhook } from './telegram-webhook.js';

export { TelegramSurfaceConfig } from './telegram-config.js';

/** Telegram's limit for one message's text. */
export const TELEGRAM_MAX_TEXT = 4096;

/** How much longer than a long poll any request may take before grammY gives up on it. */
const REQUEST_SLACK_S = 30;

export interface TelegramSurfaceOptions {
  log(line: string): void;
  /** Where the polling offset is kept (`telegram-offset.json`); created by the caller. */
  stateDir: string;
  env?: NodeJS.ProcessEnv;
}

export function createTelegramSurface(config: TelegramSurfaceConfig, opts: TelegramSurfaceOptions): Surface {
  const env = opts.env ?? process.env;
  const token = resolveSecret(config.token, config.token_env, env, 'token');
  if (!BOT_TOKEN_RE.test(token)) {
    throw new Error(`${config.token_env !== undefined ? `token_env: ${config.token_env}` : 'token'} does not hold a bot token as BotFather gives it (<digits>:<letters>)`);
  }
  const hook = config.webhook;
  const secretToken = hook ? resolveSecret(hook.secret_token, hook.secret_token_env, env, 'webhook.secret_token') : undefined;
  if (secretToken !== undefined && !SECRET_TOKEN_RE.test(secretToken)) {
    throw new Error(`webhook.secret_token_env: ${hook?.secret_token_env} must hold 1-256 characters, each A-Z, a-z, 0-9, _ or -`);
  }

  const health = new SurfaceHealth(config.mode, opts.log, secretToken === undefined ? [token] : [token, secretToken]);
  const { api, close } = createTelegramApi(token, { apiRoot: config.api_root, timeoutSeconds: config.poll_timeout_s + REQUEST_SLACK_S });
  const botId = Number(token.slice(0, token.indexOf(':')));
  let receiver: { stop(): Promise<void> } | undefined;

  async function startPolling(deliver: (m: ChatInbound) => Promise<void>): Promise<void> {
    // getUpdates is refused while a webhook is set (say, from an earlier webhook set-up).
    await api.deleteWebhook().catch((err: unknown) => {
      throw health.fatal('deleteWebhook', err, ' (check the bot token and api_root)');
    });
    const poller = new TelegramPoller(api, new TelegramOffsetStore(opts.stateDir, botId), config.poll_timeout_s, health);
    poller.start(deliver);
    receiver = poller;
    // The origin only: a self-hosted server's URL may carry credentials.
    health.log(`telegram: polling ${new URL(config.api_root ?? 'https://api.telegram.org').origin} (long poll ${config.poll_timeout_s} s)`);
  }

  async function startWebhook(deliver: (m: ChatInbound) => Promise<void>): Promise<void> {
    if (!hook || secretToken === undefined) throw new Error('telegram: mode webhook needs its webhook settings');
    const server = new TelegramWebhook({ host: hook.listen_host, port: hook.port, path: hook.path }, secretToken, health);
    const url = await server.start(deliver);
    receiver = server;
    health.log(`telegram: webhook listening on ${url}`);
    if (hook.public_url === undefined) return;
    try {
      await api.setWebhook(hook.public_url, { secret_token: secretToken, allowed_updates: ['message'] });
    } catch (err) {
      await server.stop();
      receiver = undefined;
      throw health.fatal('setWebhook', err);
    }
    health.log(`telegram: webhook registered with Telegram at ${hook.public_url}`);
  }

  return {
    name: 'telegram',
    maxText: TELEGRAM_MAX_TEXT,
    async start(deliver) {
      if (receiver) throw new Error('telegram: already started');
      await (config.mode === 'polling' ? startPolling(deliver) : startWebhook(deliver));
    },
    send: (m) => sendTelegramText(api, m),
    async stop() {
      await receiver?.stop();
      receiver = undefined;
      close();
    },
    status: () => health.status(),
  };
}
