import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { html } from '../html.js';
import { href } from '../router.js';
import { sessions, stores } from '../session.js';
import type { MeshStore } from '../store/mesh.js';
import { MemberItem } from './members.js';
import { NotificationItem } from './notifications.js';

function Traffic({ store, now }: { store: MeshStore; now: number }) {
  void store.streams.traffic.value;
  const rates = Object.entries(store.streams.perMinute(now)).sort((a, b) => b[1] - a[1]);
  return html`
    <section class="card traffic" aria-label=${`Live traffic in ${store.session.mesh_name}`}>
      <h3>Live traffic</h3>
      ${rates.length
        ? html`<ul>${rates.map(([topic, n]) => html`<li key=${topic}><a href=${href.chat(store.meshId, topic)}>#${topic}</a> <span class="rate">${n} msg/min</span></li>`)}</ul>`
        : html`<p class="empty">No messages in the last minute.</p>`}
    </section>
  `;
}

/** `insecure`: push needs https or localhost; `unsupported`: no PushManager here (the button is hidden). */
function pushSupport(): 'ok' | 'insecure' | 'unsupported' {
  if (!window.isSecureContext) return 'insecure';
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window ? 'ok' : 'unsupported';
}

/** Loaded on first use: push.ts stays out of the first load. */
const pushModule = () => import('../push.js');

/** Web Push of this mesh's mentions and replies to this browser (docs/web.md "Web Push"). */
function PushToggle({ store }: { store: MeshStore }) {
  const support = pushSupport();
  const on = useSignal<boolean | null>(null);
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);
  useEffect(() => {
    if (support === 'ok') void pushModule().then((m) => m.pushOn(store.meshId)).then((v) => (on.value = v), () => (on.value = false));
  }, [store.meshId]);
  if (support === 'unsupported') return null;
  if (support === 'insecure') return html`<p class="hint">Mention notifications need the app on https (or localhost).</p>`;
  const toggle = async (): Promise<void> => {
    busy.value = true;
    error.value = null;
    try {
      const { disablePush, enablePush } = await pushModule();
      if (on.value) {
        await disablePush(store.api, store.meshId, sessions.value.map((s) => s.mesh_id).filter((id) => id !== store.meshId));
        on.value = false;
      } else {
        await enablePush(store.api, store.meshId);
        on.value = true;
      }
    } catch (e) {
      error.value = `Notifications: ${(e as Error).message}`;
    } finally {
      busy.value = false;
    }
  };
  return html`
    <p class="push">
      <button type="button" aria-pressed=${on.value ? 'true' : 'false'} disabled=${busy.value || on.value === null} onClick=${toggle}>Notify me of mentions</button>
      <span role="status">${on.value ? ' Mentions notify this device' : ''}</span>
      ${error.value ? html`<span role="alert" class="error"> ${error.value}</span>` : null}
    </p>
  `;
}

function MeshCard({ store, now }: { store: MeshStore; now: number }) {
  const members = store.members.value;
  const online = members.filter((m) => m.online);
  const humans = online.filter((m) => m.peer_type === 'human').length;
  const joined = store.topics.value.filter((t) => t.joined);
  const headingId = `mesh-${store.meshId}`;
  return html`
    <section class="mesh-card" aria-labelledby=${headingId}>
      <h2 id=${headingId}><a href=${href.chat(store.meshId)}>${store.session.mesh_name}</a></h2>
      <p class="summary-line">
        <span data-testid=${`mesh-unread-${store.meshId}`}>${store.unreadTotal.value} unread</span> ·
        signed in as ${store.session.member.display_name}
      </p>
      <${PushToggle} store=${store} />
      <section class="card" aria-label=${`Topics in ${store.session.mesh_name}`}>
        <h3>Topics</h3>
        <ul class="topic-links">
          ${joined.map(
            (t) => html`<li key=${t.name}><a href=${href.chat(store.meshId, t.name)}>#${t.name}</a>${t.unread ? html` <span class="badge">${t.unread}</span>` : null}</li>`,
          )}
        </ul>
      </section>
      <section class="card presence" aria-label=${`Presence in ${store.session.mesh_name}`}>
        <h3>Presence</h3>
        <p>${online.length} online: ${humans} ${humans === 1 ? 'human' : 'humans'}, ${online.length - humans} ${online.length - humans === 1 ? 'agent' : 'agents'}</p>
        <ul>${online.map((m) => html`<${MemberItem} key=${m.member_pubkey} m=${m} />`)}</ul>
      </section>
      <${Traffic} store=${store} now=${now} />
    </section>
  `;
}

/** Every signed-in mesh at a glance: unread, recent mentions, who is online, live traffic. */
export function Dashboard() {
  const now = useSignal(Date.now());
  useEffect(() => {
    const t = setInterval(() => (now.value = Date.now()), 5_000);
    return () => clearInterval(t);
  }, []);
  const all = sessions.value.map((s) => stores.value[s.mesh_id]).filter((s): s is MeshStore => s !== undefined);
  const recent = all
    .flatMap((store) => store.notifications.value.map((n) => ({ store, n })))
    .sort((a, b) => b.n.created_at - a.n.created_at)
    .slice(0, 5);
  return html`
    <main id="main" class="page dashboard">
      <h1>Dashboard</h1>
      <section class="card mentions" aria-labelledby="recent-mentions">
        <h2 id="recent-mentions">Recent mentions</h2>
        ${recent.length
          ? html`<ul>${recent.map(({ store, n }) => html`<${NotificationItem} key=${`${store.meshId}:${n.id}`} meshId=${store.meshId} n=${n} />`)}</ul>`
          : html`<p class="empty">Nothing unread.</p>`}
      </section>
      <div class="mesh-grid">${all.map((store) => html`<${MeshCard} key=${store.meshId} store=${store} now=${now.value} />`)}</div>
    </main>
  `;
}
