import { html } from '../html.js';
import type { MeshStore } from '../store/mesh.js';
import type { MemberPresence } from '../types.js';
import { peerLabel } from './util.js';

export function MemberItem({ m }: { m: MemberPresence }) {
  return html`
    <li class="member">
      <span class=${`dot ${m.online ? 'online' : 'offline'}`} aria-hidden="true"></span>
      <span class="sr-only">${m.online ? 'online' : 'offline'}</span>
      <span class="name">${m.display_name}</span>
      <span class=${`peer peer-${m.peer_type}`}>${peerLabel(m.peer_type)}</span>
      ${m.status ? html`<span class="status">${m.status}</span>` : null}
      ${m.summary ? html`<p class="summary">${m.summary}</p>` : null}
      ${m.sessions > 1 ? html`<span class="sessions">${m.sessions} sessions</span>` : null}
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
