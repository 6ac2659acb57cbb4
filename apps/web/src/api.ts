import { openWebSignIn, webSignInLookup } from '../../../libs/core/src/web/web-signin.js';
import type { History, MeInfo, MemberPresence, MeshAnalytics, Notification, PostResult, TopicInfo, TopicMessage } from './types.js';

/** A broker error answer (`{ error: { code, message } }`) or a network failure (`E_NETWORK`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const BASE = '/api/v1';

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) return new ApiError(res.status, body.error.code, body.error.message ?? body.error.code);
  } catch {
    // Not JSON (a proxy's page): fall through to the status line.
  }
  return new ApiError(res.status, `E_HTTP_${res.status}`, res.statusText || `HTTP ${res.status}`);
}

async function call<T>(method: string, path: string, key: string | null, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (key) headers['Authorization'] = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(BASE + path, { method, headers, body: body === undefined ? null : JSON.stringify(body), cache: 'no-store' });
  } catch (error) {
    throw new ApiError(0, 'E_NETWORK', (error as Error).message || 'the broker cannot be reached');
  }
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

const topicPath = (name: string): string => `/topics/${encodeURIComponent(name)}`;

/**
 * Trades the one-time code of a sign-in link for its API key (protocol §8.5): only the code's lookup
 * goes to the broker (no Authorization header), which answers once with the key sealed under the
 * code; the code itself never leaves the page.
 */
export async function exchangeSignInCode(code: string): Promise<{ api_key: string }> {
  let lookup: string;
  try {
    lookup = await webSignInLookup(code);
  } catch (error) {
    throw new ApiError(400, 'E_SCHEMA', (error as Error).message);
  }
  const { sealed } = await call<{ sealed: string; mesh_id: string }>('POST', '/web/session', null, { lookup });
  try {
    return { api_key: await openWebSignIn(code, sealed) };
  } catch (error) {
    throw new ApiError(400, 'E_SCHEMA', (error as Error).message);
  }
}

/** The REST surface for one API key (one member of one mesh). */
export function createApi(key: string) {
  return {
    key,
    me: () => call<MeInfo>('GET', '/me', key),
    revokeSelf: () => call<{ revoked: boolean; id: string }>('DELETE', '/me/apikey', key),
    topics: () => call<TopicInfo[]>('GET', '/topics', key),
    join: (name: string) => call<TopicInfo>('POST', `${topicPath(name)}/join`, key),
    history: (name: string, opts: { before?: string; after?: string; limit?: number }) => call<History>('GET', `${topicPath(name)}/messages${query(opts)}`, key),
    post: (name: string, body: { text: string; reply_to?: string; client_id: string }) => call<PostResult>('POST', `${topicPath(name)}/messages`, key, body),
    markRead: (name: string, messageId: string) => call<{ topic: string; last_read_id: string; unread: number }>('PATCH', `${topicPath(name)}/read`, key, { message_id: messageId }),
    members: () => call<MemberPresence[]>('GET', '/members', key),
    topicMembers: (topic: string) => call<Array<{ member_pubkey: string; display_name: string }>>('GET', `${topicPath(topic)}/members`, key),
    notifications: (opts: { unread?: boolean; limit?: number }) => call<Notification[]>('GET', `/notifications${query(opts)}`, key),
    markNotificationsRead: (ids?: string[]) => call<{ marked: number }>('POST', '/notifications/read', key, ids ? { ids } : {}),
    pushInfo: () => call<{ vapid_public_key: string; enabled: boolean }>('GET', '/web/push', key),
    subscribePush: (body: { endpoint: string; keys: { p256dh: string; auth: string } }) => call<{ id: string; created_at: number }>('POST', '/me/push', key, body),
    unsubscribePush: (endpoint?: string) => call<{ removed: number }>('DELETE', '/me/push', key, endpoint ? { endpoint } : {}),
    analytics: (window: MeshAnalytics['window']) => call<MeshAnalytics>('GET', `/analytics${query({ window })}`, key),
    search: (q: string, topic?: string) => call<TopicMessage[]>('GET', `/search${query({ q, topic, limit: 50 })}`, key),
  };
}

export type Api = ReturnType<typeof createApi>;
