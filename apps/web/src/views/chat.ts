import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { SEALED_NOTICE } from '../body.js';
import { html } from '../html.js';
import type { MeshStore } from '../store/mesh.js';
import { Composer } from './composer.js';
import { MessageLog } from './log.js';
import { Members } from './members.js';
import { Thread } from './thread.js';
import { TopicList } from './topics.js';

/** Topic list, message log with composer, thread and members; on narrow screens the side panels fold behind buttons. */
export function Chat({ store, topic }: { store: MeshStore; topic: string }) {
  const thread = useSignal<string | null>(null);
  const showTopics = useSignal(false);
  const showMembers = useSignal(false);
  const info = store.topic(topic);
  const live = store.streams.live.value[topic] === true;

  useEffect(() => {
    store.open(topic);
    thread.value = null;
    showTopics.value = false;
  }, [store, topic]);

  // An e2e topic takes posts only once this browser holds the member's key (e2e/keys.ts).
  const keys = store.e2e.value;
  const sealed = info?.encryption !== 'e2e' || keys.kind === 'ready' ? null : keys.kind === 'loading' ? 'Opening this browser’s key…' : `${SEALED_NOTICE}: ${keys.why}`;
  const cls = ['chat', showTopics.value ? 'show-topics' : '', showMembers.value ? 'show-members' : '', thread.value ? 'has-thread' : ''].join(' ');

  let center;
  if (!info && store.topics.value.length === 0) center = html`<p class="loading">Loading…</p>`;
  else if (!info) center = html`<p class="empty">There is no topic #${topic} you can see in this mesh.</p>`;
  else if (!info.joined)
    center = html`<div class="join-prompt">
      <p>You have not joined #${topic}.</p>
      <button type="button" onClick=${() => void store.join(topic)}>Join #${topic}</button>
    </div>`;
  else
    center = html`
      <${MessageLog} key=${topic} store=${store} topic=${topic} onThread=${(id: string) => (thread.value = id)} />
      <${Composer} key=${topic} store=${store} topic=${topic} label="Message" sendLabel="Send" disabledReason=${sealed} />
    `;

  return html`
    <div class=${cls}>
      <${TopicList} store=${store} current=${topic} onPick=${() => (showTopics.value = false)} />
      <main id="main" class="conversation">
        <div class="topic-head">
          <button type="button" class="toggle" aria-expanded=${showTopics.value ? 'true' : 'false'} onClick=${() => (showTopics.value = !showTopics.value)}>Topics</button>
          <h1>#${topic}</h1>
          ${info?.description ? html`<p class="description">${info.description}</p>` : null}
          <span data-testid="connection" class=${`connection ${live ? 'live' : 'down'}`} role="status">${live ? 'live' : 'reconnecting'}</span>
          <button type="button" class="toggle" aria-expanded=${showMembers.value ? 'true' : 'false'} onClick=${() => (showMembers.value = !showMembers.value)}>Members</button>
        </div>
        ${store.error.value ? html`<p class="error" role="alert">${store.error.value} <button type="button" class="link" onClick=${() => (store.error.value = null)}>Dismiss</button></p>` : null}
        ${center}
      </main>
      ${thread.value && info?.joined ? html`<${Thread} store=${store} topic=${topic} parentId=${thread.value} onClose=${() => (thread.value = null)} disabledReason=${sealed} />` : null}
      <${Members} store=${store} />
    </div>
  `;
}
