import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { plainText } from '../body.js';
import { html } from '../html.js';
import { href, navigate, route } from '../router.js';
import type { MeshStore } from '../store/mesh.js';
import type { TopicMessage } from '../types.js';

/** The text around the first match of `q`, the match in a <mark>. */
function excerpt(text: string, q: string) {
  const at = text.toLowerCase().indexOf(q.toLowerCase());
  if (at < 0) return text.length > 160 ? `${text.slice(0, 160)}…` : text;
  const from = Math.max(0, at - 60);
  const to = Math.min(text.length, at + q.length + 80);
  return html`${from > 0 ? '…' : ''}${text.slice(from, at)}<mark>${text.slice(at, at + q.length)}</mark>${text.slice(at + q.length, to)}${to < text.length ? '…' : ''}`;
}

/** Full-text search over the mesh's readable topics (GET /search); a result opens its topic. */
export function SearchBox({ store }: { store: MeshStore }) {
  const q = useSignal('');
  const results = useSignal<TopicMessage[] | null>(null);
  const error = useSignal<string | null>(null);
  const searched = useSignal('');

  const run = (e: Event): void => {
    e.preventDefault();
    const query = q.value.trim();
    if (!query) return;
    error.value = null;
    searched.value = query;
    store.api.search(query).then(
      (r) => (results.value = r),
      (err: Error) => {
        results.value = [];
        error.value = err.message;
      },
    );
  };
  const open = (m: TopicMessage): void => {
    results.value = null;
    navigate(href.chat(store.meshId, m.topic));
  };
  const close = (): void => {
    results.value = null;
  };
  // Results belong to the view they were asked from.
  useEffect(close, [route.value]);

  return html`
    <search class="search">
      <form onSubmit=${run}>
        <input type="search" aria-label="Search messages" placeholder="Search" value=${q.value} onInput=${(e: Event) => (q.value = (e.target as HTMLInputElement).value)} onKeyDown=${(e: KeyboardEvent) => e.key === 'Escape' && close()} />
      </form>
      ${results.value
        ? html`<div class="search-panel">
            <div class="panel-head">
              <span>${error.value ?? `${results.value.length} result${results.value.length === 1 ? '' : 's'} for “${searched.value}”`}</span>
              <button type="button" onClick=${close}>Close</button>
            </div>
            <ul aria-label="Search results">
              ${results.value.map(
                (m) => html`<li key=${m.id}>
                  <a href=${href.chat(store.meshId, m.topic)} onClick=${(e: Event) => (e.preventDefault(), open(m))}>
                    <span class="topic">#${m.topic}</span> <span class="author">${m.sender.display_name}</span>
                    <span class="text">${plainText(m) === undefined ? '(end-to-end encrypted)' : excerpt(plainText(m)!, searched.value)}</span>
                  </a>
                </li>`,
              )}
            </ul>
          </div>`
        : null}
    </search>
  `;
}
