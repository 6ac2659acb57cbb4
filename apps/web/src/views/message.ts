import { useEffect } from 'preact/hooks';
import { plainText, SEALED_NOTICE } from '../body.js';
import { html } from '../html.js';
import { renderMarkdown } from '../markdown.js';
import type { MeshStore } from '../store/mesh.js';
import type { TopicMessage } from '../types.js';
import { fullTime, peerLabel, shortTime } from './util.js';

/**
 * A message's body: Markdown for plaintext and for a sealed message this browser opened; the sealed
 * notice, saying why, for one it cannot open (yet: a key may still come from a member).
 */
export function MessageBody({ message, me, store }: { message: TopicMessage; me: string; store?: MeshStore }) {
  const text = plainText(message);
  useEffect(() => {
    if (text === undefined) store?.requestOpen(message);
  }, [message.id, store?.e2e.value.kind]);
  const opened = text === undefined ? store?.opened.value.get(message.id) : undefined;
  const shown = text ?? opened?.text ?? null;
  if (shown === null) {
    const state = store?.e2e.value;
    const why = opened?.reason ?? (state?.kind === 'none' ? `${SEALED_NOTICE}: ${state.why}` : state?.kind === 'loading' ? 'Opening with this browser’s key…' : SEALED_NOTICE);
    return html`<div class="body sealed"><p>${why}</p></div>`;
  }
  return html`<div class="body">${renderMarkdown(shown, { me })}</div>`;
}

interface Props {
  message: TopicMessage;
  me: string;
  /** Opens sealed messages; absent where none can appear. */
  store?: MeshStore;
  replies?: number;
  /** Opens the message's thread; absent inside the thread itself. */
  onThread?: (id: string) => void;
  parentAuthor?: string | null;
}

export function Message({ message, me, store, replies = 0, onThread, parentAuthor }: Props) {
  const m = message;
  return html`
    <article data-testid="message" data-id=${m.id} class=${`message${m.reply_to ? ' is-reply' : ''}`}>
      <div class="meta">
        <span class="author">${m.sender.display_name} <span class=${`peer peer-${m.sender.peer_type}`}>${peerLabel(m.sender.peer_type)}</span></span>
        <time datetime=${new Date(m.created_at).toISOString()} title=${fullTime(m.created_at)}>${shortTime(m.created_at)}</time>
        ${parentAuthor !== undefined && m.reply_to ? html`<span class="in-reply">↪ in reply to ${parentAuthor ?? 'an earlier message'}</span>` : null}
      </div>
      <${MessageBody} message=${m} me=${me} store=${store} />
      ${onThread
        ? html`<div class="actions">
            <button type="button" class="link" aria-label="Reply in thread" onClick=${() => onThread(m.reply_to ?? m.id)}>Reply</button>
            ${replies > 0 ? html`<button type="button" class="link replies" onClick=${() => onThread(m.id)}>${replies} ${replies === 1 ? 'reply' : 'replies'}</button>` : null}
          </div>`
        : null}
    </article>
  `;
}
