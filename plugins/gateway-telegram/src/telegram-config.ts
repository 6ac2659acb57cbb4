import { z } from 'zod';
import { ENV_NAME_RE, requireOneOf } from './secret.js';

const envName = z.string().regex(ENV_NAME_RE, 'the name of an environment variable (letters, digits, _)');
const httpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });

/** What BotFather hands out: `<bot id>:<secret>`. Checked without echoing the value. */
export const BOT_TOKEN_RE = /^\d{1,20}:[A-Za-z0-9_-]{1,200}$/;
/** Telegram's rule for a webhook's secret_token. */
export const SECRET_TOKEN_RE = /^[A-Za-z0-9_-]{1,256}$/;

const WebhookConfig = z.strictObject({
  /** Where the HTTP server listens; put a TLS-terminating proxy in front of it (Telegram only calls https://). */
  listen_host: z.string().min(1).default('127.0.0.1'),
  /** 0: any free port (the start-up log line names it). */
  port: z.number().int().min(0).max(65535),
  path: z.string().regex(/^\/[^\s?#]*$/, 'a path starting with /').default('/telegram'),
  /** Telegram sends it back in X-Telegram-Bot-Api-Secret-Token; a request without it is refused. */
  secret_token: z.string().regex(SECRET_TOKEN_RE, '1-256 characters, each A-Z, a-z, 0-9, _ or -').optional(),
  secret_token_env: envName.optional(),
  /** The full URL Telegram should POST to; when set, the gateway registers it (setWebhook) at start. */
  public_url: httpUrl.optional(),
}).superRefine((w, ctx) => requireOneOf(w, 'secret_token', ctx));

/** The Telegram surface's own settings (docs/gateways.md). */
export const TelegramSurfaceConfig = z.strictObject({
  /** The bot token from BotFather. */
  token: z.string().regex(BOT_TOKEN_RE, 'a bot token as BotFather gives it (<digits>:<letters>)').optional(),
  token_env: envName.optional(),
  mode: z.enum(['polling', 'webhook']).default('polling'),
  /** The Bot API root, for a self-hosted Bot API server; default https://api.telegram.org. */
  api_root: httpUrl.transform((u) => u.replace(/\/+$/, '')).optional(),
  /** Long-poll wait in seconds: how long one getUpdates may stay open with nothing to answer. */
  poll_timeout_s: z.number().int().min(1).max(50).default(25),
  webhook: WebhookConfig.optional(),
}).superRefine((c, ctx) => {
  requireOneOf(c, 'token', ctx);
  if (c.mode === 'webhook' && c.webhook === undefined) ctx.addIssue({ code: 'custom', path: ['webhook'], message: 'required with mode: webhook (listen_host, port, path, secret_token)' });
  if (c.mode === 'polling' && c.webhook !== undefined) ctx.addIssue({ code: 'custom', path: ['webhook'], message: 'only used with mode: webhook; remove it or set mode: webhook' });
});
export type TelegramSurfaceConfig = z.output<typeof TelegramSurfaceConfig>;
