/**
 * The WhatsApp adapter of the chat gateway, on the WhatsApp Cloud API: Meta POSTs each message to
 * our webhook (signed with the app secret), and replies go out through the Graph API. No SDK: the
 * webhook is a node:http server and a send is one fetch.
 */
import type { ChatInbound, ChatOutbound, Surface, SurfaceStatus } from '@claudemesh/gateway';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { sendText, type GraphTarget } from './graph-send.js';
import { checkSecretPairs, EnvVarName, resolveSecret, sameSecret } from './secrets.js';
import { answer, readBody, signatureMatches } from './webhook-http.js';
import { readWebhook } from './webhook-payload.js';

const SECRETS = ['access_token', 'app_secret', 'verify_token'] as const;

/** The WhatsApp settings of a gateway instance (docs/gateways.md, WhatsApp). */
export const WhatsAppSurfaceConfig = z.strictObject({
  /** A System User access token with whatsapp_business_messaging (sends). */
  access_token: z.string().min(1).optional(),
  access_token_env: EnvVarName.optional(),
  /** The business number's id in the Graph API (not the phone number itself). */
  phone_number_id: z.string().regex(/^\d{1,32}$/, 'the numeric Phone number ID from the WhatsApp API Setup page'),
  /** The Meta app's secret: it signs every webhook POST (X-Hub-Signature-256). */
  app_secret: z.string().min(1).optional(),
  app_secret_env: EnvVarName.optional(),
  /** Any string of yours, entered again in the app's webhook settings; Meta echoes it when subscribing. */
  verify_token: z.string().min(1).optional(),
  verify_token_env: EnvVarName.optional(),
  graph_url: z.url({ protocol: /^https?$/ }).default('https://graph.facebook.com').transform((u) => u.replace(/\/+$/, '')),
  graph_version: z.string().regex(/^v\d+\.\d+$/, 'a Graph API version such as v21.0').default('v21.0'),
  /** Graph API calls that take longer are abandoned (and retried by the gateway). */
  send_timeout_ms: z.number().int().min(1_000).max(300_000).default(30_000),
  webhook: z.strictObject({
    /** Where the webhook server listens; a reverse proxy in front gives Meta its https:// URL. */
    listen_host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port (then read it from the log line or `address()`). */
    port: z.number().int().min(0).max(65_535),
    path: z.string().regex(/^\/[A-Za-z0-9._~\-/]*$/, 'an absolute URL path such as /whatsapp').default('/whatsapp'),
  }),
}).superRefine((c, ctx) => checkSecretPairs(c, SECRETS, ctx));
export type WhatsAppSurfaceConfig = z.output<typeof WhatsAppSurfaceConfig>;

export interface WhatsAppSurfaceOptions {
  log(line: string): void;
  /** Unused: WhatsApp keeps no offset; Meta redelivers whatever was not answered 200. */
  stateDir: string;
  env?: NodeJS.ProcessEnv;
}

export interface WhatsAppSurface extends Surface {
  /** Where the webhook server listens, once started. */
  address(): { host: string; port: number } | null;
}

export function createWhatsAppSurface(config: WhatsAppSurfaceConfig, opts: WhatsAppSurfaceOptions): WhatsAppSurface {
  const env = opts.env ?? process.env;
  // Resolved now, so a missing variable stops start-up with its name rather than a later send.
  const token = resolveSecret('access_token', config.access_token, config.access_token_env, env);
  const appSecret = resolveSecret('app_secret', config.app_secret, config.app_secret_env, env);
  const verifyToken = resolveSecret('verify_token', config.verify_token, config.verify_token_env, env);
  const graph: GraphTarget = { url: `${config.graph_url}/${config.graph_version}/${config.phone_number_id}/messages`, token, timeoutMs: config.send_timeout_ms };
  const log = (line: string) => opts.log(`whatsapp: ${line}`);

  let server: Server | null = null;
  let deliver: ((m: ChatInbound) => Promise<void>) | null = null;
  let stopping = false;
  let lastEventAt: string | null = null;
  let lastError: string | null = null;
  const fail = (message: string) => {
    lastError = message;
    log(message);
  };

  // One chat's messages reach the core in the order they arrived, even when Meta posts them in
  // parallel requests; different chats do not wait for each other.
  const chatTails = new Map<string, Promise<void>>();
  const deliverInOrder = (m: ChatInbound): Promise<void> => {
    const prev = chatTails.get(m.chat) ?? Promise.resolve();
    const mine = prev.then(() => {
      if (stopping || !deliver) throw new Error('stopping');
      return deliver(m);
    });
    const tail = mine.then(() => undefined, () => undefined);
    chatTails.set(m.chat, tail);
    void tail.then(() => {
      if (chatTails.get(m.chat) === tail) chatTails.delete(m.chat);
    });
    return mine;
  };

  const handshake = (query: URLSearchParams, res: ServerResponse) => {
    const given = query.get('hub.verify_token');
    const challenge = query.get('hub.challenge');
    if (query.get('hub.mode') === 'subscribe' && given !== null && challenge !== null && sameSecret(given, verifyToken)) {
      log('webhook subscription verified');
      return answer(res, 200, challenge);
    }
    fail('refused a webhook verification: hub.verify_token does not match verify_token');
    return answer(res, 403, 'forbidden');
  };

  const notification = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    if (raw === null) {
      fail('refused a webhook POST: body over 1 MiB');
      return answer(res, 413, 'payload too large', { connection: 'close' });
    }
    if (!signatureMatches(req.headers['x-hub-signature-256'], raw, appSecret)) {
      fail(`refused a webhook POST: ${req.headers['x-hub-signature-256'] === undefined ? 'no' : 'a wrong'} X-Hub-Signature-256 (is app_secret this app's secret?)`);
      return answer(res, 401, 'bad signature');
    }
    lastEventAt = new Date().toISOString();
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      fail('refused a signed webhook POST that is not JSON');
      return answer(res, 400, 'invalid json');
    }
    const { inbound, notes } = readWebhook(body, config.phone_number_id);
    for (const note of notes) log(note);
    // Meta retries the whole request until it gets a 200, so every message must be taken first.
    // The first refusal stops the rest: the retry brings them again, in order, and the core skips
    // the ones it already took.
    for (const m of inbound) {
      try {
        await deliverInOrder(m);
      } catch (error) {
        fail(`could not hand over ${m.dedupeId}: ${(error as Error).message}; answering 500 so WhatsApp delivers it again`);
        return answer(res, stopping ? 503 : 500, 'retry later');
      }
    }
    return answer(res, 200, 'ok');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://webhook');
    if (url.pathname !== config.webhook.path) return answer(res, 404, 'not found');
    if (req.method === 'GET') return handshake(url.searchParams, res);
    if (req.method === 'POST') return notification(req, res);
    return answer(res, 405, 'method not allowed', { allow: 'GET, POST' });
  };

  return {
    name: 'whatsapp',
    maxText: 4096,

    async start(onMessage) {
      if (server) throw new Error('whatsapp surface already started');
      deliver = onMessage;
      stopping = false;
      const s = createServer((req, res) => {
        handle(req, res).catch((error: unknown) => {
          fail(`webhook request failed: ${(error as Error).message}`);
          answer(res, 500, 'error');
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(config.webhook.port, config.webhook.listen_host, () => {
          s.off('error', reject);
          resolve();
        });
      }).catch((error: NodeJS.ErrnoException) => {
        throw new Error(`whatsapp: cannot listen on ${config.webhook.listen_host}:${config.webhook.port}: ${error.code ?? error.message}`);
      });
      s.on('error', (error) => fail(`webhook server error: ${error.message}`));
      server = s;
      const { port } = s.address() as AddressInfo;
      log(`webhook listening on http://${config.webhook.listen_host}:${port}${config.webhook.path} for phone_number_id ${config.phone_number_id}`);
    },

    async send(m: ChatOutbound) {
      try {
        return await sendText(graph, m);
      } catch (error) {
        lastError = (error as Error).message;
        throw error;
      }
    },

    async stop() {
      stopping = true;
      const s = server;
      server = null;
      if (!s) return;
      // A request still waiting on the core loses its answer; Meta sends it again and the core dedupes.
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
      log('webhook server stopped');
    },

    status(): SurfaceStatus {
      return { connected: server?.listening ?? false, mode: 'webhook', last_event_at: lastEventAt, last_error: lastError };
    },

    address() {
      const a = server?.address();
      return a && typeof a === 'object' ? { host: config.webhook.listen_host, port: a.port } : null;
    },
  };
}
