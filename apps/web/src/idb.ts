import type { Session } from './types.js';

/**
 * IndexedDB `claudemesh`: `sessions` (one record per mesh, keyed by mesh_id) and `settings` (the
 * theme, the last route). API keys stay here and in memory only: never in a URL, never in
 * localStorage.
 */
const DB = 'claudemesh';
const SESSIONS = 'sessions';
const SETTINGS = 'settings';
/** This browser's keypair per mesh (e2e/keys.ts): the member's own key once claimed. */
const KEYS = 'keys';

let opening: Promise<IDBDatabase> | null = null;

function open(): Promise<IDBDatabase> {
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 2);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(SESSIONS)) db.createObjectStore(SESSIONS, { keyPath: 'mesh_id' });
      if (!db.objectStoreNames.contains(SETTINGS)) db.createObjectStore(SETTINGS);
      if (!db.objectStoreNames.contains(KEYS)) db.createObjectStore(KEYS, { keyPath: 'mesh_id' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB cannot be opened'));
  });
  return opening;
}

async function run<T>(store: string, mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const req = op(tx.objectStore(store));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

export const loadSessions = (): Promise<Session[]> => run(SESSIONS, 'readonly', (s) => s.getAll() as IDBRequest<Session[]>);
export const saveSession = (session: Session): Promise<IDBValidKey> => run(SESSIONS, 'readwrite', (s) => s.put(session));
export const deleteSession = (meshId: string): Promise<undefined> => run(SESSIONS, 'readwrite', (s) => s.delete(meshId));

export async function getSetting<T>(name: string): Promise<T | undefined> {
  try {
    return (await run(SETTINGS, 'readonly', (s) => s.get(name) as IDBRequest<T | undefined>));
  } catch {
    return undefined;
  }
}

export async function setSetting(name: string, value: unknown): Promise<void> {
  // A setting is a convenience: a private window without IndexedDB just forgets it.
  await run(SETTINGS, 'readwrite', (s) => s.put(value, name)).catch(() => undefined);
}

export interface StoredKey {
  mesh_id: string;
  member_pubkey: string;
  /** The serialized identity (libs/crypto serializeIdentity), as JSON. */
  identity: string;
}

export const loadKey = (meshId: string): Promise<StoredKey | undefined> => run(KEYS, 'readonly', (s) => s.get(meshId) as IDBRequest<StoredKey | undefined>);
export const saveKey = (key: StoredKey): Promise<IDBValidKey> => run(KEYS, 'readwrite', (s) => s.put(key));
export const deleteKey = (meshId: string): Promise<undefined> => run(KEYS, 'readwrite', (s) => s.delete(meshId));
