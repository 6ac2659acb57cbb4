import { html } from '../html.js';
import type { MeshStore } from '../store/mesh.js';
import { Composer } from './composer.js';
import { PendingItem } from './log.js';
import { Message } from './message.js';

/** A message and its replies (from the loaded history and the stream), with a reply composer. */
export function Thread({ store, topic, parentId, onClose, disabledReason }: { store: MeshStore; topic: string; parentId: string; onClose: () => void; disabledReason: string | null }) {
  const messages = store.timeline(topic).messages.value;
  const parent = messages.find((m) => m.id === parentId);
  const replies = messages.filter((m) => m.reply_to === parentId);
  const pending = store.outbox.pending.value.filter((p) => p.topic === topic && p.reply_to === parentId);
  const me = store.session.member.display_name;
  return html`
    <aside aria-label="Thread" class="thread panel">
      <div class="panel-head">
        <h2>Thread</h2>
        <button type="button" onClick=${onClose}>Close thread</button>
      </div>
      <div class="thread-body">
        ${parent ? html`<${Message} message=${parent} me=${me} store=${store} />` : html`<p class="empty">The first message of this thread is not loaded.</p>`}
        <p class="reply-count">${replies.length} ${replies.length === 1 ? 'reply' : 'replies'}</p>
        ${replies.map((m) => html`<${Message} key=${m.id} message=${m} me=${me} store=${store} />`)}
        ${pending.map((p) => html`<${PendingItem} key=${p.client_id} store=${store} p=${p} />`)}
      </div>
      <${Composer} key=${parentId} store=${store} topic=${topic} replyTo=${parentId} label="Reply" sendLabel="Send reply" disabledReason=${disabledReason} />
    </aside>
  `;
}
