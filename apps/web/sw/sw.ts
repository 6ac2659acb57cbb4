/**
 * The service worker: the app shell (index.html and the hashed assets, listed by build.mjs)
 * precached and served cache-first; API GETs network-first with the last answer as the offline
 * fallback, so the app reopens offline on its last view. Writes and the SSE streams are never
 * cached. A new build has a new cache name; activation drops the old ones.
 */
// A module, so `self` can be declared as the service worker scope it is.
export {};
declare const self: ServiceWorkerGlobalScope;
declare const __SHELL__: string[];
declare const __VERSION__: string;

const SHELL_CACHE = `claudemesh-shell-${__VERSION__}`;
const API_CACHE = 'claudemesh-api-v1';

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      // The broker answers `/` with the page only to a request that accepts HTML.
      .then((c) => c.addAll(__SHELL__.map((u) => (u === '/' ? new Request('/', { headers: { Accept: 'text/html' } }) : u))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL_CACHE && k !== API_CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

/** Responses differ per key: the cache key carries a digest of the Authorization header. */
async function apiCacheKey(req: Request): Promise<string> {
  const auth = req.headers.get('Authorization') ?? '';
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(auth)));
  const tag = Array.from(digest.slice(0, 12), (b) => b.toString(16).padStart(2, '0')).join('');
  return `${req.url}#k=${tag}`;
}

async function networkFirst(req: Request): Promise<Response> {
  const key = await apiCacheKey(req);
  try {
    const res = await fetch(req);
    if (res.ok) {
      const cache = await caches.open(API_CACHE);
      await cache.put(key, res.clone());
    }
    return res;
  } catch (error) {
    const cached = await caches.match(key);
    if (cached) return cached;
    throw error;
  }
}

async function shellFirst(req: Request): Promise<Response> {
  const cache = await caches.open(SHELL_CACHE);
  // Every navigation is the one page: hash routes never reach the server. The broker varies `/` on
  // Accept (the page for a browser, JSON for scripts); what is cached here is the page, whatever
  // Accept the navigation sends.
  const cached = await cache.match(req.mode === 'navigate' ? '/' : req, { ignoreVary: true });
  return cached ?? fetch(req);
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/')) {
    if (url.pathname.endsWith('/stream') || req.headers.get('Accept') === 'text/event-stream') return;
    event.respondWith(networkFirst(req));
    return;
  }
  if (req.mode === 'navigate' || __SHELL__.includes(url.pathname)) event.respondWith(shellFirst(req));
});

/** A Web Push (docs/web.md "Web Push"): who mentioned or answered the member, and where — never the text. */
interface PushPayload {
  v: 1;
  kind: 'mention' | 'reply';
  mesh_id: string;
  mesh_name: string;
  topic: string;
  actor: string;
  message_id: string;
  url: string;
}

self.addEventListener('push', (event) => {
  let p: PushPayload;
  try {
    p = event.data?.json() as PushPayload;
  } catch {
    return;
  }
  if (!p || p.v !== 1) return;
  const title = p.kind === 'reply' ? `${p.actor} replied in #${p.topic}` : `${p.actor} mentioned you in #${p.topic}`;
  // Only the app's own routes: the URL is resolved against the worker's scope, never another origin.
  const url = new URL(p.url.startsWith('#') ? p.url : '#/', self.registration.scope).href;
  event.waitUntil(self.registration.showNotification(title, { body: p.mesh_name, tag: `m-${p.message_id}`, icon: '/icons/icon-192.png', data: { url } }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data as { url?: string } | null)?.url ?? self.registration.scope;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(async (windows) => {
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (open) {
        await open.focus();
        await open.navigate(url).catch(() => undefined);
        return;
      }
      await self.clients.openWindow(url);
    }),
  );
});
