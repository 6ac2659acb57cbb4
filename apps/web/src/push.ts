import type { Api } from './api.js';
import { getSetting, setSetting } from './idb.js';

/**
 * Web Push of mentions and replies (docs/web.md "Web Push"): this browser's push subscription,
 * registered with each mesh's API key that turned it on. One subscription serves every mesh; it is
 * dropped when the last mesh turns push off. The pushes carry no message text.
 */

const settingOf = (meshId: string): string => `push:${meshId}`;

function b64uBytes(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const bytesB64u = (b: ArrayBuffer | null): string => (b ? btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') : '');

async function current(): Promise<PushSubscription | null> {
  const reg = await navigator.serviceWorker.getRegistration();
  return (await reg?.pushManager.getSubscription()) ?? null;
}

/** Whether this mesh pushes to this browser (its setting, and a live subscription). */
export async function pushOn(meshId: string): Promise<boolean> {
  return (await getSetting<boolean>(settingOf(meshId))) === true && Notification.permission === 'granted' && (await current()) !== null;
}

/** Asks for permission, subscribes with the broker's VAPID key and registers the subscription with this mesh's key. */
export async function enablePush(api: Api, meshId: string): Promise<void> {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error(permission === 'denied' ? 'notifications are blocked for this site in the browser’s settings' : 'notifications were not allowed');
  const info = await api.pushInfo();
  if (!info.enabled) throw new Error('this broker does not send push notifications');
  const key = b64uBytes(info.vapid_public_key);
  const reg = await navigator.serviceWorker.ready;
  let sub = await reg.pushManager.getSubscription();
  // A subscription made for another VAPID key (another broker, or a new key) cannot be reused.
  if (sub && bytesB64u(sub.options.applicationServerKey) !== info.vapid_public_key) {
    await sub.unsubscribe();
    sub = null;
  }
  sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await api.subscribePush({ endpoint: sub.endpoint, keys: { p256dh: bytesB64u(sub.getKey('p256dh')), auth: bytesB64u(sub.getKey('auth')) } });
  await setSetting(settingOf(meshId), true);
}

/** Deletes this mesh's registration; unsubscribes the browser when no other mesh uses it. */
export async function disablePush(api: Api, meshId: string, otherMeshIds: string[]): Promise<void> {
  const sub = await current();
  await api.unsubscribePush(sub ? sub.endpoint : undefined);
  await setSetting(settingOf(meshId), false);
  const others = await Promise.all(otherMeshIds.map((id) => getSetting<boolean>(settingOf(id))));
  if (sub && !others.some((on) => on === true)) await sub.unsubscribe();
}
