import { useSignal } from '@preact/signals';
import { html } from '../html.js';
import { href } from '../router.js';
import { sessions, signOut } from '../session.js';
import type { MeshStore } from '../store/mesh.js';
import { cycleTheme, theme } from '../theme.js';
import { SearchBox } from './search.js';

/** The bar over every signed-in view: meshes, notifications, search, theme, sign-out. */
export function Header({ store }: { store: MeshStore }) {
  const error = useSignal<string | null>(null);
  const unread = store.notifications.value.length;
  const out = (): void => {
    error.value = null;
    signOut(store.meshId).catch((e: Error) => (error.value = `Sign-out failed: ${e.message}`));
  };
  return html`
    <header class="top">
      <a class="brand" href=${href.dashboard()}>claudemesh</a>
      <nav aria-label="Meshes" class="meshes">
        <ul>
          ${sessions.value.map(
            (s) => html`<li key=${s.mesh_id}><a href=${href.chat(s.mesh_id)} aria-current=${s.mesh_id === store.meshId ? 'true' : undefined}>${s.mesh_name}</a></li>`,
          )}
          <li><a href=${href.signin()}>Add a mesh</a></li>
        </ul>
      </nav>
      <a class="notes-link" href=${href.notifications(store.meshId)}>Notifications${unread ? html` <span class="badge" data-testid="notifications-unread">${unread}</span>` : null}</a>
      <${SearchBox} store=${store} />
      <button type="button" class="theme" aria-label="Theme" title=${`Theme: ${theme.value}`} onClick=${cycleTheme}>${theme.value === 'dark' ? '☾' : theme.value === 'light' ? '☀' : '◐'}</button>
      <span class="whoami">${store.session.member.display_name}</span>
      <button type="button" onClick=${out}>Sign out</button>
      ${error.value ? html`<p role="alert" class="error">${error.value}</p>` : null}
    </header>
  `;
}
