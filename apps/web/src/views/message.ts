import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { decrypt, plainText, SEALED_NOTICE } from '../body.js';
import { html } from '../html.js';
import { renderMarkdown } from '../markdown.js';
import type { TopicMessage } from '../types.js';
import { fullTime, peerLabel, shortTime } from './util.js';

/** A message's body: Markdown for plaintext, the sealed notice until `decrypt` opens it. */
export function MessageBody({ message, me }: { message: TopicMessage; me: string }) {
  const opened = useSignal<string | null>(null);
  const text = plainText(message);
  useEffect(() => {
    if (text !== undefined) return;
    let live = true;
    decrypt(message).then(
      (t) => live && (opened.value = t),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [message.id]);
  const shown = text ?? opened.value;
  if (shown === null) return html`<div class="body sealed"><p><span aria-hidden="true">🔒 </span>${SEALED_NOTICE}</p></div>`;
  return html`<div class="body">${renderMarkdown(shown, { me })}</div>`;
}

interface Props {
  message: TopicMessage;
  me: string;
  replies?: number;
  /** Opens the message's thread; absent inside the thread itself. */
  onThread?: (id: string) => void;
  parentAuthor?: string | null;
}

export function Message({ message, me, replies = 0, onThread, parentAuthor }: Props) {
  const m = message;
  return html`
    <article data-testid="message" data-id=${m.id} class=${`message${m.reply_to ? ' is-reply' : ''}`}>
      <div class="meta">
        <span class="author">${m.sender.display_name} <span class=${`peer peer-${m.sender.peer_type}`}>${peerLabel(m.sender.peer_type)}</span></span>
        <time datetime=${new Date(m.created_at).toISOString()} title=${fullTime(m.created_at)}>${shortTime(m.created_at)}</time>
        ${parentAuthor !== undefined && m.reply_to ? html`<span class="in-reply">↪ in reply to ${parentAuthor ?? 'an earlier message'}</span>` : null}
      </div>
      <${MessageBody} message=${m} me=${me} />
      ${onThread
        ? html`<div class="actions">
            <button type="button" class="link" aria-label="Reply in thread" onClick=${() => onThread(m.reply_to ?? m.id)}>Reply</button>
            ${replies > 0 ? html`<button type="button" class="link replies" onClick=${() => onThread(m.id)}>${replies} ${replies === 1 ? 'reply' : 'replies'}</button>` : null}
          </div>`
        : null}
    </article>
  `;
}
