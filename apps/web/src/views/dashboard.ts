import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { html } from '../html.js';
import { href } from '../router.js';
import { sessions, stores } from '../session.js';
import { ApiError } from '../api.js';
import type { MeshStore } from '../store/mesh.js';
import type { MeshAnalytics } from '../types.js';
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

/** Bars of messages and topic posts per hour, scaled to the busiest hour (an SVG, no library). */
function Bars({ series }: { series: MeshAnalytics['series'] }) {
  const values = series.map((p) => p.messages + p.topic_posts);
  const max = Math.max(1, ...values);
  const w = 4;
  return html`
    <svg class="bars" viewBox=${`0 0 ${values.length * w} 24`} preserveAspectRatio="none" aria-hidden="true">
      ${values.map((v, i) => (v > 0 ? html`<rect key=${i} x=${i * w} y=${24 - Math.max(1, (v / max) * 24)} width=${w - 1} height=${Math.max(1, (v / max) * 24)} />` : null))}
    </svg>
  `;
}

const latency = (ms: number | null, count: number): string => (count === 0 ? '—' : ms === null ? '> 60 s' : ms < 1000 ? `≤ ${ms} ms` : `≤ ${ms / 1000} s`);
/** Keys found without the `admin` capability: asked once per page load, not on every render. */
const noAnalytics = new Set<string>();

/**
 * The last 24 hours of a mesh for its owner or admins (GET /api/v1/analytics): volume per hour,
 * deliveries and their handoff latency, busiest topics. Metadata only; refreshed every minute.
 * A key without the `admin` capability gets a hint instead (claudemesh web --admin).
 */
function DeliveryHealth({ store, now }: { store: MeshStore; now: number }) {
  const data = useSignal<MeshAnalytics | null>(null);
  const denied = useSignal(noAnalytics.has(store.session.api_key));
  const minute = Math.floor(now / 60_000);
  useEffect(() => {
    if (denied.value) return;
    store.api.analytics('24h').then(
      (a) => (data.value = a),
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 403) {
          noAnalytics.add(store.session.api_key);
          denied.value = true;
        }
      },
    );
  }, [store.meshId, minute]);
  const label = `Delivery health in ${store.session.mesh_name}`;
  if (denied.value) {
    return html`<section class="card health" aria-label=${label}><h3>Delivery health</h3><p class="hint">Shown with a key that has the admin capability: <code>claudemesh web --admin</code>.</p></section>`;
  }
  const a = data.value;
  if (!a) return null;
  if (!a.collecting) return html`<section class="card health" aria-label=${label}><h3>Delivery health</h3><p class="empty">This broker keeps no analytics.</p></section>`;
  return html`
    <section class="card health" aria-label=${label}>
      <h3>Delivery health <span class="hint">last 24 h</span></h3>
      <${Bars} series=${a.series} />
      <dl>
        <dt>Messages</dt><dd data-testid="health-messages">${a.totals.messages}</dd>
        <dt>Topic posts</dt><dd data-testid="health-posts">${a.totals.topic_posts}</dd>
        <dt>Delivered</dt><dd data-testid="health-delivered">${a.totals.delivered}</dd>
        <dt>Handoff p50 / p99</dt><dd>${latency(a.handoff.p50_ms, a.handoff.count)} / ${latency(a.handoff.p99_ms, a.handoff.count)}</dd>
      </dl>
      ${a.busiest_topics.length
        ? html`<p>Busiest: ${a.busiest_topics.slice(0, 3).map((t, i) => html`${i ? ', ' : ''}<a href=${href.chat(store.meshId, t.name)}>#${t.name}</a> (${t.posts})`)}</p>`
        : null}
    </section>
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
      ${store.session.member.role === 'member' ? null : html`<${DeliveryHealth} store=${store} now=${now} />`}
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
