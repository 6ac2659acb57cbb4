import { useSignal } from '@preact/signals';
import { useLayoutEffect, useRef } from 'preact/hooks';
import { html } from '../html.js';
import { insertMention, matchMembers, mentionAt } from '../mentions.js';
import type { MeshStore } from '../store/mesh.js';

interface Props {
  store: MeshStore;
  topic: string;
  replyTo?: string | null;
  /** The textarea's accessible name ("Message", "Reply") and the button's text. */
  label: string;
  sendLabel: string;
  /** When set, the composer is disabled and says why. */
  disabledReason?: string | null;
}

/** A multi-line composer: Enter sends, Shift+Enter breaks the line, `@` suggests members. */
export function Composer({ store, topic, replyTo = null, label, sendLabel, disabledReason = null }: Props) {
  const text = useSignal('');
  const caret = useSignal(0);
  const active = useSignal(0);
  const dismissedAt = useSignal(-1);
  const nextCaret = useRef<number | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const listId = `mentions-${label.toLowerCase()}`;

  const at = mentionAt(text.value, caret.value);
  const matches = at && at.start !== dismissedAt.value ? matchMembers(store.members.value, at.query, store.session.member.member_pubkey) : [];
  const open = matches.length > 0;
  const activeIndex = Math.min(active.value, Math.max(0, matches.length - 1));

  useLayoutEffect(() => {
    if (nextCaret.current === null || !area.current) return;
    area.current.setSelectionRange(nextCaret.current, nextCaret.current);
    nextCaret.current = null;
  });

  const sync = (el: HTMLTextAreaElement): void => {
    text.value = el.value;
    caret.value = el.selectionStart;
    // Escape closes the list for that one @prefix; a new one opens it again.
    if (mentionAt(el.value, el.selectionStart)?.start !== dismissedAt.value) dismissedAt.value = -1;
  };
  const choose = (i: number): void => {
    const member = matches[i];
    if (!at || !member) return;
    const next = insertMention(text.value, at.start, caret.value, member.display_name);
    text.value = next.text;
    caret.value = next.caret;
    nextCaret.current = next.caret;
    active.value = 0;
    area.current?.focus();
  };
  const send = (): void => {
    const value = text.value;
    if (!value.trim() || disabledReason) return;
    text.value = '';
    caret.value = 0;
    void store.outbox.send(topic, value, replyTo);
  };
  const onKeyDown = (e: KeyboardEvent): void => {
    if (open) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        active.value = (activeIndex + step + matches.length) % matches.length;
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        choose(activeIndex);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        dismissedAt.value = at!.start;
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  };
  const submit = (e: Event): void => {
    e.preventDefault();
    send();
  };
  const optionId = (i: number): string => `${listId}-${i}`;

  return html`
    <form class="composer" onSubmit=${submit} aria-label=${label === 'Message' ? 'Send a message' : 'Send a reply'}>
      ${disabledReason ? html`<p class="composer-note" id=${`${listId}-why`}>${disabledReason}</p>` : null}
      <div class="composer-row">
        <textarea
          ref=${area}
          aria-label=${label}
          rows="2"
          disabled=${!!disabledReason}
          aria-describedby=${disabledReason ? `${listId}-why` : undefined}
          aria-autocomplete="list"
          aria-expanded=${open ? 'true' : 'false'}
          aria-controls=${listId}
          aria-activedescendant=${open ? optionId(activeIndex) : undefined}
          value=${text.value}
          onInput=${(e: Event) => sync(e.target as HTMLTextAreaElement)}
          onKeyUp=${(e: KeyboardEvent) => !['ArrowDown', 'ArrowUp'].includes(e.key) && (caret.value = (e.target as HTMLTextAreaElement).selectionStart)}
          onClick=${(e: Event) => (caret.value = (e.target as HTMLTextAreaElement).selectionStart)}
          onKeyDown=${onKeyDown}
        ></textarea>
        <button type="submit" disabled=${!!disabledReason}>${sendLabel}</button>
      </div>
      <ul id=${listId} role="listbox" aria-label="Mention suggestions" class="mention-list" hidden=${!open}>
        ${matches.map(
          (m, i) => html`<li key=${m.member_pubkey} id=${optionId(i)} role="option" aria-selected=${i === activeIndex ? 'true' : 'false'} onMouseDown=${(e: Event) => (e.preventDefault(), choose(i))}>
            @${m.display_name} <span class="peer">${m.peer_type === 'human' ? 'human' : 'agent'}</span>
          </li>`,
        )}
      </ul>
    </form>
  `;
}
