import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Api, HttpError } from 'grammy';
import { redact } from './secret.js';

export interface TelegramApi {
  api: Api;
  /** Closes the kept-alive sockets to the Bot API. */
  close(): void;
}

/**
 * A grammY Api client of its own. grammY has no retry of its own (429s and network errors reach
 * the caller; auto-retry is a separate plugin, not used), which leaves retrying to the gateway core.
 */
export function createTelegramApi(token: string, opts: { apiRoot: string | undefined; timeoutSeconds: number }): TelegramApi {
  const apiRoot = opts.apiRoot ?? 'https://api.telegram.org';
  // grammY's default agents are shared by every client of the process and never closed; an agent of
  // our own lets stop() leave no socket open.
  const agent = apiRoot.startsWith('https:') ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const api = new Api(token, {
    apiRoot,
    timeoutSeconds: opts.timeoutSeconds,
    baseFetchConfig: { agent, ...(apiRoot.startsWith('https:') ? { compress: true } : {}) },
  });
  // node-fetch's error names the URL, and the URL holds the token: HttpError keeps that error as
  // `.error`, which a logger printing the whole object would show. Replace it with a redacted copy.
  api.config.use(async (prev, method, payload, signal) => {
    try {
      return await prev(method, payload, signal);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      const cause = err.error instanceof Error ? err.error : new Error(String(err.error));
      const clean = Object.assign(new Error(redact(cause.message, [token])), { name: cause.name, ...codeOf(cause) });
      if (cause.stack) clean.stack = redact(cause.stack, [token]);
      throw new HttpError(redact(err.message, [token]), clean);
    }
  });
  return { api, close: () => agent.destroy() };
}

/**
 * grammY types its `signal` parameters with the abort-controller polyfill's AbortSignal; it only
 * calls addEventListener on it, which Node's own AbortSignal has.
 */
export function grammySignal(signal: AbortSignal): Parameters<Api['getUpdates']>[1] {
  return signal as unknown as Parameters<Api['getUpdates']>[1];
}

function codeOf(err: Error): { code?: string } {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? { code } : {};
}
