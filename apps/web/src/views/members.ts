import { html } from '../html.js';
import type { MeshStore } from '../store/mesh.js';
import type { MemberPresence } from '../types.js';
import { fullTime, peerLabel } from './util.js';

/** How a member's key is held, in words: what a person deciding whom to trust needs to know. */
function keyNote(m: MemberPresence): string {
  if (m.rest_only) return 'no key yet: reads and writes plaintext topics only';
  return `key ${m.member_pubkey.slice(0, 16).replace(/(.{4})/g, '$1 ').trim()}…`;
}

/**
 * A member: presence, kind, status and summary at a glance; the rest (role, sessions, last seen,
 * key) in a native disclosure, so it opens from the keyboard and a screen reader says so.
 */
export function MemberItem({ m }: { m: MemberPresence }) {
  const seen = m.online ? 'online now' : m.last_seen_at ? `last seen ${fullTime(m.last_seen_at)}` : 'not seen yet';
  return html`
    <li class="member">
      <details>
        <summary>
          <span class=${`dot ${m.online ? 'online' : 'offline'}`} aria-hidden="true"></span>
          <span class="sr-only">${m.online ? 'online' : 'offline'}</span>
          <span class="name">${m.display_name}</span>
          <span class=${`peer peer-${m.peer_type}`}>${peerLabel(m.peer_type)}</span>
          ${m.status ? html`<span class="status">${m.status}</span>` : null}
        </summary>
        <dl class="peer-detail">
          <dt>Role</dt><dd>${m.role}</dd>
          <dt>Presence</dt><dd>${seen}${m.sessions > 0 ? ` · ${m.sessions} ${m.sessions === 1 ? 'session' : 'sessions'}` : ''}${m.rest_active ? ' · using the API' : ''}</dd>
          <dt>Key</dt><dd class="key">${keyNote(m)}</dd>
        </dl>
      </details>
      ${m.summary ? html`<p class="summary">${m.summary}</p>` : null}
    </li>
  `;
}

/** Everyone in the mesh, online first, with what their sessions say they are doing. */
export function Members({ store }: { store: MeshStore }) {
  const members = [...store.members.value].sort((a, b) => Number(b.online) - Number(a.online) || a.display_name.localeCompare(b.display_name));
  const online = members.filter((m) => m.online).length;
  return html`
    <aside aria-label="Members" class="members panel">
      <h2>Members <span class="count">${online}/${members.length} online</span></h2>
      <ul>
        ${members.map((m) => html`<${MemberItem} key=${m.member_pubkey} m=${m} />`)}
      </ul>
    </aside>
  `;
}
