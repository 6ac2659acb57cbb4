import type { EpochKeyring } from './epoch-keyring.js';

/**
 * What a keyring is doing about its epochs right now, per scope, shared by the epoch sync
 * (epoch-sync.ts) and the send window (send-window.ts): the rotation it is publishing, the reactions
 * to refusals and the rotations made ahead in progress, and a signal for the sends waiting on them.
 * Module-private state kept per keyring (WeakMaps: gone with the keyring).
 */

/**
 * The rotation of `scope` this keyring is publishing, if any: resolves once the broker answered it
 * (accepted or not). A send about to seal waits for it rather than sealing under the epoch it
 * replaces, which the broker would refuse as stale once it accepts the new one — unless the
 * rotation is proposed already (EpochKeyring.propose: its publish is out on an ordering transport).
 */
export function rotationInFlight(ring: EpochKeyring, scope: string): Promise<void> | undefined {
  return publishing.get(ring)?.get(scope);
}

/** Rotations being published, per keyring and scope. */
const publishing = new WeakMap<EpochKeyring, Map<string, Promise<void>>>();

/** Marks a rotation of `scope` as being published until the returned function is called. */
export function startPublishing(ring: EpochKeyring, scope: string): () => void {
  let done!: () => void;
  const published = new Promise<void>((resolve) => (done = resolve));
  let perScope = publishing.get(ring);
  if (!perScope) publishing.set(ring, (perScope = new Map()));
  perScope.set(scope, published);
  changed(ring, scope);
  return () => {
    if (perScope.get(scope) === published) perScope.delete(scope);
    done();
    changed(ring, scope);
  };
}

/** Per keyring and scope: resolved at the next change of its rotation state (`nextChange`). */
const changes = new WeakMap<EpochKeyring, Map<string, { next: Promise<void>; fire: () => void }>>();

/** Resolves at the next change of a scope's rotation in this keyring: one starts, is proposed, or ends. */
export function nextChange(ring: EpochKeyring, scope: string): Promise<void> {
  let perScope = changes.get(ring);
  if (!perScope) changes.set(ring, (perScope = new Map()));
  let entry = perScope.get(scope);
  if (!entry) {
    let fire!: () => void;
    const next = new Promise<void>((resolve) => (fire = resolve));
    perScope.set(scope, (entry = { next, fire }));
  }
  return entry.next;
}

/** Wakes the sends waiting in nextChange for this scope. */
export function changed(ring: EpochKeyring, scope: string): void {
  const perScope = changes.get(ring);
  const entry = perScope?.get(scope);
  if (!entry) return;
  perScope!.delete(scope);
  entry.fire();
}

/** Runs `work` once per keyring and key at a time: a caller arriving while it runs waits for it and gets false. */
export async function shared(ring: EpochKeyring, key: string, work: () => Promise<boolean>): Promise<boolean> {
  let perScope = reacting.get(ring);
  if (!perScope) reacting.set(ring, (perScope = new Map()));
  const running = perScope.get(key);
  if (running) return running.then(() => false, () => false);
  const run = work();
  perScope.set(key, run);
  try {
    return await run;
  } finally {
    if (perScope.get(key) === run) perScope.delete(key);
  }
}

/** The reaction or rotation ahead running under `key` (`${scope}\n${epoch}`), if any. */
export function reaction(ring: EpochKeyring, key: string): Promise<boolean> | undefined {
  return reacting.get(ring)?.get(key);
}

/** Reactions to refusals and rotations ahead in progress, per keyring and `${scope}\n${epoch}`. */
const reacting = new WeakMap<EpochKeyring, Map<string, Promise<boolean>>>();
