import { html } from '../html.js';
import { href } from '../router.js';
import type { MeshStore } from '../store/mesh.js';

/** Joined topics with unread badges; public topics not joined yet below, each with Join. */
export function TopicList({ store, current, onPick }: { store: MeshStore; current: string; onPick?: () => void }) {
  const topics = [...store.topics.value].sort((a, b) => a.name.localeCompare(b.name));
  const joined = topics.filter((t) => t.joined);
  const others = topics.filter((t) => !t.joined && t.visibility === 'public');
  const live = store.streams.live.value;
  return html`
    <nav aria-label="Topics" class="topics panel">
      <h2>Topics</h2>
      <ul>
        ${joined.map(
          (t) => html`<li key=${t.name}>
            <a href=${href.chat(store.meshId, t.name)} onClick=${onPick} aria-current=${t.name === current ? 'page' : undefined} class=${t.name in live ? '' : 'stale'} title=${t.name in live ? undefined : 'updated every 30 s'}>
              <span class="name">#${t.name}</span>
              ${t.encryption === 'e2e' ? html`<span class="lock peer" title="end-to-end encrypted">e2e</span>` : null}
              ${t.unread > 0 ? html`<span class="badge" data-testid=${`unread-${t.name}`} aria-label=${`${t.unread} unread`}>${t.unread}</span>` : null}
            </a>
          </li>`,
        )}
      </ul>
      ${others.length
        ? html`<h3>More topics</h3>
            <ul class="unjoined">
              ${others.map(
                (t) => html`<li key=${t.name}>
                  <a href=${href.chat(store.meshId, t.name)} onClick=${onPick} aria-current=${t.name === current ? 'page' : undefined}>#${t.name}</a>
                  <button type="button" class="small" aria-label=${`Join #${t.name}`} onClick=${() => void store.join(t.name)}>Join</button>
                </li>`,
              )}
            </ul>`
        : null}
    </nav>
  `;
}
