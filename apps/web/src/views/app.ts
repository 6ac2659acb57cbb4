import { html } from '../html.js';
import { href, route } from '../router.js';
import { ready, sessions, stores } from '../session.js';
import { Chat } from './chat.js';
import { Dashboard } from './dashboard.js';
import { Header } from './header.js';
import { Notifications } from './notifications.js';
import { SignIn } from './signin.js';

function focusMain(e: Event): void {
  e.preventDefault();
  const target = document.getElementById('messages') ?? document.getElementById('main');
  if (target && !target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target?.focus();
}

export function App() {
  if (!ready.value) return html`<p class="loading" role="status">Loading…</p>`;
  const r = route.value;
  if (r.name === 'signin' || sessions.value.length === 0) return html`<${SignIn} />`;
  const meshId = r.name === 'chat' || r.name === 'notifications' ? r.mesh : null;
  const store = meshId ? stores.value[meshId] : stores.value[sessions.value[0]!.mesh_id];
  if (!store)
    return html`<main id="main" class="page">
      <h1>Not signed in to this mesh</h1>
      <p><a href=${href.signin()}>Sign in</a> with one of its API keys, or go back to the <a href=${href.dashboard()}>dashboard</a>.</p>
    </main>`;
  return html`
    <a class="skip" href="#messages" onClick=${focusMain}>Skip to messages</a>
    <${Header} store=${store} />
    ${r.name === 'chat' ? html`<${Chat} store=${store} topic=${r.topic} />` : r.name === 'notifications' ? html`<${Notifications} store=${store} />` : html`<${Dashboard} />`}
  `;
}
