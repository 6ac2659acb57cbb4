import { useComputed, useSignal } from '@preact/signals';
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import { html } from '../html.js';
import type { MeshStore } from '../store/mesh.js';
import type { Pending } from '../store/outbox.js';
import type { TopicMessage } from '../types.js';
import { Message } from './message.js';

const NEAR_PX = 48;

/** Where the "New messages" divider goes: before the unread-th newest message not sent by `me`. */
export function firstUnreadId(messages: TopicMessage[], unread: number, me: string): string | null {
  if (unread <= 0) return null;
  let seen = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.sender.member_pubkey === me) continue;
    if (++seen === unread) return messages[i]!.id;
  }
  return messages[0]?.id ?? null;
}

export function PendingItem({ store, p }: { store: MeshStore; p: Pending }) {
  return html`
    <article class=${`message pending ${p.state}`} data-testid="pending-message" aria-busy=${p.state === 'sending' ? 'true' : 'false'}>
      <div class="meta"><span class="author">${store.session.member.display_name}</span> <span>${p.state === 'sending' ? 'Sending…' : 'Not sent'}</span></div>
      <div class="body"><p class="pre">${p.text}</p></div>
      ${p.state === 'failed'
        ? html`<div class="actions">
            <span class="error">${p.error}</span>
            <button type="button" onClick=${() => void store.outbox.retry(p.client_id)}>Retry</button>
            <button type="button" class="link" onClick=${() => store.outbox.discard(p.client_id)}>Discard</button>
          </div>`
        : null}
    </article>
  `;
}

/**
 * The topic's messages: the newest page first, older pages when scrolled to the top (the view
 * keeps its place), pinned to the bottom while the reader is there, and the read mark moved when
 * the newest message is on screen in a visible document.
 */
export function MessageLog({ store, topic, onThread }: { store: MeshStore; topic: string; onThread: (id: string) => void }) {
  const tl = store.timeline(topic);
  const me = store.session.member;
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const restore = useRef<number | null>(null);
  const divider = useSignal<string | null | undefined>(undefined);
  const messages = tl.messages.value;
  const info = store.topic(topic);
  const byId = useComputed(() => new Map(tl.messages.value.map((m) => [m.id, m])));
  const replyCounts = useComputed(() => {
    const counts = new Map<string, number>();
    for (const m of tl.messages.value) if (m.reply_to) counts.set(m.reply_to, (counts.get(m.reply_to) ?? 0) + 1);
    return counts;
  });
  const pending = store.outbox.pending.value.filter((p) => p.topic === topic && !p.reply_to);

  useEffect(() => {
    if (!tl.loaded.value) void tl.loadLatest();
  }, [tl]);

  // The divider is placed once, from the unread count the topic had when it was opened.
  if (divider.value === undefined && tl.loaded.value && info) divider.value = firstUnreadId(messages, info.unread, me.member_pubkey);

  const markIfSeen = (): void => {
    const newest = tl.newestId();
    if (newest && atBottom.current && document.visibilityState === 'visible') store.markRead(topic, newest);
  };

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (restore.current !== null) {
      el.scrollTop += el.scrollHeight - restore.current;
      restore.current = null;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
    markIfSeen();
  }, [messages, pending.length]);

  useEffect(() => {
    const onVisible = (): void => markIfSeen();
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [topic]);

  const onScroll = (): void => {
    const el = box.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_PX;
    if (atBottom.current) markIfSeen();
    if (el.scrollTop < NEAR_PX && tl.hasMore.value && !tl.loading.value && tl.loaded.value) {
      restore.current = el.scrollHeight;
      void tl.loadOlder().then((more) => {
        if (!more) restore.current = null;
      });
    }
  };

  return html`
    <p class="loading-older" role="status">${tl.loading.value && tl.loaded.value ? 'Loading older messages…' : ''}</p>
    <div id="messages" class="log" role="log" aria-label="Messages" aria-live="polite" tabindex="-1" ref=${box} onScroll=${onScroll}>
      ${tl.loaded.value && !tl.hasMore.value ? html`<p class="start">The beginning of #${topic}</p>` : null}
      ${tl.error.value ? html`<p class="error" role="alert">${tl.error.value}</p>` : null}
      ${messages.map(
        (m) => html`
          ${m.id === divider.value ? html`<div class="divider" data-testid="first-unread" role="separator"><span>New messages</span></div>` : null}
          <${Message} key=${m.id} message=${m} me=${me.display_name} store=${store} replies=${replyCounts.value.get(m.id) ?? 0} onThread=${onThread} parentAuthor=${m.reply_to ? (byId.value.get(m.reply_to)?.sender.display_name ?? null) : undefined} />
        `,
      )}
      ${pending.map((p) => html`<${PendingItem} key=${p.client_id} store=${store} p=${p} />`)}
      ${tl.loaded.value && messages.length === 0 && pending.length === 0 ? html`<p class="empty">No messages in #${topic} yet.</p>` : null}
    </div>
  `;
}
