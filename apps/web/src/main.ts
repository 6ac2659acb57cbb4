import { effect } from '@preact/signals';
import { render } from 'preact';
import { getSetting, setSetting } from './idb.js';
import { html } from './html.js';
import { parseRoute, route } from './router.js';
import { restoreSessions, stores } from './session.js';
import { loadTheme } from './theme.js';
import { App } from './views/app.js';
import './styles.css';

const LAST_ROUTE = 'last_route';

/** Opening the bare app returns to where it was last (a sign-in link is never restored). */
async function restoreRoute(): Promise<void> {
  if (location.hash && location.hash !== '#/' && location.hash !== '#') return;
  const last = await getSetting<string>(LAST_ROUTE);
  if (last && last.startsWith('#/') && !last.startsWith('#/signin')) {
    history.replaceState(null, '', `${location.pathname}${location.search}${last}`);
    route.value = parseRoute(last);
  }
}

function rememberRoute(): void {
  effect(() => {
    const r = route.value;
    if (r.name !== 'signin') void setSetting(LAST_ROUTE, location.hash || '#/');
  });
}

function watchConnectivity(): void {
  window.addEventListener('offline', () => Object.values(stores.value).forEach((s) => s.streams.pause()));
  window.addEventListener('online', () => Object.values(stores.value).forEach((s) => s.streams.resume()));
  window.addEventListener('focus', () => Object.values(stores.value).forEach((s) => void s.refresh()));
}

function registerServiceWorker(): void {
  const local = location.hostname === 'localhost' || location.hostname === '127.0.0.1';
  if (!('serviceWorker' in navigator) || (location.protocol !== 'https:' && !local)) return;
  navigator.serviceWorker.register('/sw.js').catch(() => undefined);
}

async function start(): Promise<void> {
  await Promise.all([loadTheme(), restoreRoute()]);
  await restoreSessions();
  rememberRoute();
  watchConnectivity();
  registerServiceWorker();
}

render(html`<${App} />`, document.getElementById('app')!);
void start();
