import { z } from 'zod';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envName = z.string().regex(ENV_NAME, 'must be the name of an environment variable');

/** The secrets a Slack app has, each given inline or as the name of an environment variable. */
const SECRETS = {
  bot_token: { prefix: 'xoxb-', what: 'a bot token (xoxb-…, OAuth & Permissions → Bot User OAuth Token)' },
  app_token: { prefix: 'xapp-', what: 'an app-level token (xapp-…, Basic Information → App-Level Tokens)' },
  signing_secret: { prefix: '', what: 'the signing secret (Basic Information → App Credentials)' },
} as const;
type SecretName = keyof typeof SECRETS;

// The message names the expected kind of value, never the value itself: config errors get logged.
const secret = (name: SecretName) => {
  const { prefix, what } = SECRETS[name];
  return z.string().min(1, `must be ${what}`).startsWith(prefix, `must be ${what}`);
};

/** The Slack settings of a gateway instance (docs/gateways.md, Slack). */
export const SlackSurfaceConfig = z
  .strictObject({
    bot_token: secret('bot_token').optional(),
    bot_token_env: envName.optional(),
    /** `socket`: the gateway dials out to Slack (no public URL needed); `http`: Slack POSTs events to a request URL. */
    mode: z.enum(['socket', 'http']).default('socket'),
    app_token: secret('app_token').optional(),
    app_token_env: envName.optional(),
    signing_secret: secret('signing_secret').optional(),
    signing_secret_env: envName.optional(),
    /** HTTP mode: where the events endpoint listens (a reverse proxy terminates TLS in front of it). */
    listen_host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(3000),
    path: z.string().startsWith('/', 'must start with /').default('/slack/events'),
    /** A Slack-compatible Web API base instead of https://slack.com/api/. */
    api_url: z.url({ protocol: /^https?$/ }).optional(),
  })
  .superRefine((c, ctx) => {
    const exactlyOne = (name: SecretName, required: boolean) => {
      const inline = c[name] !== undefined;
      const env = c[`${name}_env`] !== undefined;
      if (inline && env) ctx.addIssue({ code: 'custom', path: [`${name}_env`], message: `give ${name} or ${name}_env, not both` });
      else if (required && !inline && !env) ctx.addIssue({ code: 'custom', path: [name], message: `${name} or ${name}_env is required${name === 'bot_token' ? '' : ` in ${c.mode} mode`}` });
    };
    exactlyOne('bot_token', true);
    exactlyOne('app_token', c.mode === 'socket');
    exactlyOne('signing_secret', c.mode === 'http');
    const unused: SecretName = c.mode === 'socket' ? 'signing_secret' : 'app_token';
    for (const key of [unused, `${unused}_env`] as const) {
      if (c[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: `only used in ${c.mode === 'socket' ? 'http' : 'socket'} mode; remove it or change mode` });
      }
    }
  });
export type SlackSurfaceConfig = z.output<typeof SlackSurfaceConfig>;

export interface SlackSecrets {
  botToken: string;
  appToken: string | undefined;
  signingSecret: string | undefined;
}

/** The secrets of a parsed config, read from the environment where named; throws naming the variable, never a value. */
export function resolveSlackSecrets(config: SlackSurfaceConfig, env: NodeJS.ProcessEnv): SlackSecrets {
  const read = (name: SecretName): string | undefined => {
    const inline = config[name];
    if (inline !== undefined) return inline;
    const variable = config[`${name}_env`];
    if (variable === undefined) return undefined;
    const value = env[variable];
    if (value === undefined || value === '') throw new Error(`slack: ${name}_env names ${variable}, which is not set`);
    const { prefix, what } = SECRETS[name];
    if (!value.startsWith(prefix)) throw new Error(`slack: ${variable} (${name}_env) must hold ${what}`);
    return value;
  };
  const botToken = read('bot_token');
  if (botToken === undefined) throw new Error('slack: bot_token or bot_token_env is required');
  return { botToken, appToken: read('app_token'), signingSecret: read('signing_secret') };
}
