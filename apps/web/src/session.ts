import { signal } from '@preact/signals';
import { ApiError, createApi, exchangeSignInCode } from './api.js';
import { deleteSession, loadSessions, saveSession } from './idb.js';
import { href, navigate } from './router.js';
import { MeshStore } from './store/mesh.js';
import type { Session } from './types.js';

/** The signed-in meshes, each with its running store. */
export const sessions = signal<Session[]>([]);
export const stores = signal<Record<string, MeshStore>>({});
export const ready = signal(false);
/** Shown on the sign-in view: why the app came back there (a revoked key). */
export const signInNotice = signal<string | null>(null);

function startStore(session: Session): void {
  stores.value[session.mesh_id]?.stop();
  const store = new MeshStore(session, (meshId, message) => void expire(meshId, message));
  stores.value = { ...stores.value, [session.mesh_id]: store };
  store.start();
}

function dropStore(meshId: string): void {
  stores.value[meshId]?.stop();
  const next = { ...stores.value };
  delete next[meshId];
  stores.value = next;
}

export async function restoreSessions(): Promise<void> {
  try {
    sessions.value = await loadSessions();
  } catch {
    sessions.value = [];
  }
  for (const s of sessions.value) startStore(s);
  ready.value = true;
}

/** Checks the key with GET /me and keeps it as this mesh's session (a second key for a mesh replaces the first). */
export async function signIn(apiKey: string): Promise<Session> {
  const me = await createApi(apiKey).me();
  const session: Session = { mesh_id: me.mesh_id, mesh_name: me.mesh_name, member: me.member, api_key: apiKey };
  await saveSession(session);
  sessions.value = [...sessions.value.filter((s) => s.mesh_id !== session.mesh_id), session];
  signInNotice.value = null;
  startStore(session);
  return session;
}

/** The one-time code of a `claudemesh web` link: exchanged once, then gone from the URL and history. */
export async function signInWithCode(code: string): Promise<Session> {
  history.replaceState(null, '', `${location.pathname}${location.search}#/signin`);
  const { api_key } = await exchangeSignInCode(code);
  return signIn(api_key);
}

/** The service worker's offline copies of API answers (sw.ts). */
const API_CACHE = 'claudemesh-api-v1';

async function forget(meshId: string): Promise<void> {
  dropStore(meshId);
  // Offline copies of this key's answers must not outlive the session.
  if ('caches' in window) await caches.delete(API_CACHE).catch(() => false);
  await deleteSession(meshId).catch(() => undefined);
  sessions.value = sessions.value.filter((s) => s.mesh_id !== meshId);
}

/** Revokes the key at the broker, then forgets it; a key already dead is forgotten all the same. */
export async function signOut(meshId: string): Promise<void> {
  const session = sessions.value.find((s) => s.mesh_id === meshId);
  if (!session) return;
  try {
    await createApi(session.api_key).revokeSelf();
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
  await forget(meshId);
  navigate(sessions.value.length ? href.dashboard() : href.signin());
}

/** The broker no longer takes this mesh's key (revoked, expired): back to sign-in, saying why. */
export async function expire(meshId: string, message: string): Promise<void> {
  const session = sessions.value.find((s) => s.mesh_id === meshId);
  if (!session) return;
  await forget(meshId);
  signInNotice.value = `Signed out of ${session.mesh_name}: ${message}`;
  navigate(href.signin());
}
