import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { plainText } from '../body.js';
import { html } from '../html.js';
import { href } from '../router.js';
import type { MeshStore } from '../store/mesh.js';
import type { Notification } from '../types.js';
import { shortTime } from './util.js';

export function NotificationItem({ meshId, n, onRead }: { meshId: string; n: Notification; onRead?: (id: string) => void }) {
  const text = plainText(n.message);
  return html`
    <li class=${`notification ${n.read_at ? 'read' : 'unread'}`}>
      <a href=${href.chat(meshId, n.topic)}>
        <span class="kind">${n.kind === 'mention' ? 'Mention' : 'Reply'}</span>
        <span class="author">${n.actor.display_name}</span> in <span class="topic">#${n.topic}</span>
        <time datetime=${new Date(n.created_at).toISOString()}>${shortTime(n.created_at)}</time>
        <span class="text">${text === undefined ? '(end-to-end encrypted)' : text.length > 200 ? `${text.slice(0, 200)}…` : text}</span>
      </a>
      ${!n.read_at && onRead ? html`<button type="button" class="small" onClick=${() => onRead(n.id)}>Mark read</button>` : null}
    </li>
  `;
}

/** Mentions and replies of this mesh's member, newest first. */
export function Notifications({ store }: { store: MeshStore }) {
  const list = useSignal<Notification[] | null>(null);
  const error = useSignal<string | null>(null);
  const load = (): void => {
    store.api.notifications({ limit: 100 }).then(
      (l) => (list.value = l),
      (e: Error) => (error.value = e.message),
    );
  };
  useEffect(load, [store]);
  const read = async (ids?: string[]): Promise<void> => {
    await store.markNotificationsRead(ids);
    const now = Date.now();
    list.value = (list.value ?? []).map((n) => (!ids || ids.includes(n.id) ? { ...n, read_at: n.read_at ?? now } : n));
  };
  const unread = (list.value ?? []).filter((n) => !n.read_at).length;
  return html`
    <main id="main" class="page notifications-page">
      <h1>Notifications <span class="count">${store.session.mesh_name}</span></h1>
      ${error.value ? html`<p role="alert" class="error">${error.value}</p>` : null}
      ${unread ? html`<button type="button" onClick=${() => void read()}>Mark all read</button>` : null}
      ${list.value === null
        ? html`<p class="loading">Loading…</p>`
        : list.value.length === 0
          ? html`<p class="empty">No mentions or replies yet.</p>`
          : html`<ul class="notification-list" aria-label="Notifications">
              ${list.value.map((n) => html`<${NotificationItem} key=${n.id} meshId=${store.meshId} n=${n} onRead=${(id: string) => void read([id])} />`)}
            </ul>`}
    </main>
  `;
}
