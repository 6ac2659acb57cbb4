import { signal } from '@preact/signals';

/** Hash routes, so the broker serves HTML at `/` only. */
export type Route =
  | { name: 'dashboard' }
  | { name: 'signin'; code: string | null }
  | { name: 'chat'; mesh: string; topic: string }
  | { name: 'notifications'; mesh: string };

export const DEFAULT_TOPIC = 'general';

export function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?', 2);
  const parts = path.split('/').filter(Boolean).map(safeDecode);
  if (parts[0] === 'signin') return { name: 'signin', code: new URLSearchParams(search).get('code') };
  if (parts[0] === 'm' && parts[1]) {
    if (parts[2] === 'notifications') return { name: 'notifications', mesh: parts[1] };
    return { name: 'chat', mesh: parts[1], topic: parts[2] === 't' && parts[3] ? parts[3] : DEFAULT_TOPIC };
  }
  return { name: 'dashboard' };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export const href = {
  dashboard: (): string => '#/',
  signin: (): string => '#/signin',
  chat: (mesh: string, topic: string = DEFAULT_TOPIC): string => `#/m/${encodeURIComponent(mesh)}/t/${encodeURIComponent(topic)}`,
  notifications: (mesh: string): string => `#/m/${encodeURIComponent(mesh)}/notifications`,
};

export const route = signal<Route>(parseRoute(location.hash));

export function navigate(to: string): void {
  if (location.hash === to) return;
  location.hash = to;
}

window.addEventListener('hashchange', () => {
  route.value = parseRoute(location.hash);
});
