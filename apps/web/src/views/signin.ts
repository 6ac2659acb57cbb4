import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { html } from '../html.js';
import { href, navigate, parseRoute, route } from '../router.js';
import { sessions, signIn, signInNotice, signInWithCode } from '../session.js';

/** Sign in with an API key, or with the one-time code of a `claudemesh web` link. */
export function SignIn() {
  const key = useSignal('');
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  const r = route.value;
  const code = r.name === 'signin' ? r.code : null;

  const done = (meshId: string): void => {
    key.value = '';
    navigate(href.chat(meshId));
  };
  const fail = (e: unknown): void => {
    error.value = (e as Error).message || 'sign-in failed';
    busy.value = false;
  };

  useEffect(() => {
    if (!code) return;
    busy.value = true;
    const pending = signInWithCode(code);
    route.value = parseRoute(location.hash);
    pending.then((s) => done(s.mesh_id), fail);
  }, [code]);

  const submit = (e: Event): void => {
    e.preventDefault();
    const value = key.value.trim();
    if (!value) {
      error.value = 'Enter an API key (cmk_…).';
      return;
    }
    busy.value = true;
    error.value = null;
    signIn(value).then((s) => done(s.mesh_id), fail);
  };

  return html`
    <main id="main" class="signin">
      <h1>claudemesh</h1>
      ${signInNotice.value ? html`<p class="notice" role="status">${signInNotice.value}</p>` : null}
      <form aria-label="Sign in" onSubmit=${submit}>
        <h2>${sessions.value.length ? 'Add a mesh' : 'Sign in'}</h2>
        <label for="apikey">API key</label>
        <input id="apikey" name="apikey" type="password" autocomplete="off" spellcheck=${false} value=${key.value} onInput=${(e: Event) => (key.value = (e.target as HTMLInputElement).value)} />
        ${error.value ? html`<p role="alert" class="error">${error.value}</p>` : null}
        <button type="submit" disabled=${busy.value}>Sign in</button>
        <p class="hint">Run <code>claudemesh web</code> to open a signed-in link, or create a key with <code>claudemesh apikey create</code>.</p>
      </form>
      ${sessions.value.length ? html`<p><a href=${href.dashboard()}>Back to the dashboard</a></p>` : null}
    </main>
  `;
}
