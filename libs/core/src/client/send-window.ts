import type { EpochDue } from '../protocol/v1/epochs.js';
import type { EpochKeyring } from './epoch-keyring.js';
import { nextChange, reaction, rotationInFlight } from './rotation-state.js';

/**
 * Sealed sends one keyring keeps in flight per scope (docs/protocol.md §5.6 "Scheduled rotation"):
 * fewer than the last fifth of the default message bound (20 of 100), so that when the `epoch_due`
 * hint comes back every send still in flight fits under the epoch it was sealed for. Without a
 * window a sender whose posts take longer to be answered puts more in flight than an epoch holds:
 * every rotation then refuses most of them, their resends load the broker further, and the
 * refusals grow with the delay (measured: 7 780 refusals for 4 000 posts at 500/s on a slow machine).
 */
export const SEALED_SEND_WINDOW = 16;

/** How long a rotation made ahead waits for the sends in flight under the epoch it replaces before publishing anyway. */
export const DRAIN_WAIT_MS = 2_000;

interface SendWindow {
  inFlight: number;
  waiting: Array<() => void>;
  /** Sends in flight per epoch they were sealed under. */
  under: Map<number, number>;
  /** Called when no send is in flight under an epoch any more. */
  drained: Map<number, Array<() => void>>;
  /** Room the last `epoch_due` left under an epoch for sends not yet sealed (this sender's own view). */
  budget: { epoch: number; left: number } | null;
}

/** Send windows, per keyring and scope (kept while the keyring is: a few numbers per scope it sent to). */
const windows = new WeakMap<EpochKeyring, Map<string, SendWindow>>();

function windowOf(ring: EpochKeyring, scope: string): SendWindow {
  let perScope = windows.get(ring);
  if (!perScope) windows.set(ring, (perScope = new Map()));
  let w = perScope.get(scope);
  if (!w) perScope.set(scope, (w = { inFlight: 0, waiting: [], under: new Map(), drained: new Map(), budget: null }));
  return w;
}

/** A place in a send window (sealedSendSlot). */
export interface SendSlot {
  /**
   * Waits until a send may be sealed now: not while this keyring publishes the scope's next epoch
   * and has not proposed it yet (EpochKeyring.propose: over a transport that orders publishes, once
   * the publish is written), nor while the room the `epoch_due` hint left under the current epoch is
   * used up and the rotation made ahead of it runs. Takes a place of that room; seal right after,
   * with no await between (ring.encrypt seals under the proposed epoch, else the current one).
   */
  ready(): Promise<void>;
  /** The send was sealed under `epoch` and goes out now (counted in flight under it). */
  sealed(epoch: number): void;
  /** Its answer came: `due` is the ack's `epoch_due`, if any (what room is left under that epoch). */
  answered(due?: EpochDue | null): void;
  /** Gives the place back (once, however often called). */
  release(): void;
}

/**
 * Takes a place in the keyring's send window of `scope`, waiting (first come, first served) while
 * `size` sends are in flight. Within it, ready() holds a send back while the room its epoch has left
 * is used up (the hint's `remaining_messages`, less what this sender has in flight under it) and a
 * rotation made ahead of the schedule is on its way: so a lone sender is never refused at the bound.
 * Over a transport that orders publishes the hold ends as the publish is written; otherwise that
 * rotation publishes once nothing is in flight under the old epoch (never racing its own posts).
 * Other senders to the same scope are not seen: a refusal stays possible, and is handled.
 */
export async function sealedSendSlot(ring: EpochKeyring, scope: string, size: number = SEALED_SEND_WINDOW): Promise<SendSlot> {
  const w = windowOf(ring, scope);
  if (w.inFlight >= size) await new Promise<void>((resolve) => w.waiting.push(resolve));
  else w.inFlight += 1;
  let epoch: number | null = null;
  let given = false;
  const settle = (): void => {
    if (epoch === null) return;
    const left = (w.under.get(epoch) ?? 1) - 1;
    if (left > 0) {
      w.under.set(epoch, left);
    } else {
      w.under.delete(epoch);
      for (const resolve of w.drained.get(epoch)?.splice(0) ?? []) resolve();
      w.drained.delete(epoch);
    }
    epoch = null;
  };
  return {
    async ready(): Promise<void> {
      for (;;) {
        const change = nextChange(ring, scope);
        const publishing = rotationInFlight(ring, scope);
        if (publishing && ring.proposedEpoch(scope) === null) {
          await Promise.race([publishing, change]);
          continue;
        }
        const sending = ring.sendingEpoch(scope);
        const ahead = reaction(ring, `${scope}\n${sending}`);
        if (ahead && w.budget?.epoch === sending && w.budget.left <= 0) {
          // Until the rotation made ahead ends, or its publish is out (proposed): then under the new epoch.
          const ended = await Promise.race([ahead.then(() => true, () => true), change.then(() => false)]);
          if (!ended || ring.sendingEpoch(scope) !== sending) continue;
        }
        // The room is taken here, in the same step as the look at it: sends resuming together must not all see the last place free.
        if (w.budget?.epoch === sending) w.budget.left -= 1;
        return;
      }
    },
    sealed(under: number): void {
      settle();
      epoch = under;
      w.under.set(under, (w.under.get(under) ?? 0) + 1);
    },
    answered(due?: EpochDue | null): void {
      if (due && due.remaining_messages !== null && epoch === due.epoch) {
        // What is left under the epoch after this message, less this sender's others in flight under it.
        w.budget = { epoch: due.epoch, left: due.remaining_messages - ((w.under.get(due.epoch) ?? 1) - 1) };
      }
      settle();
    },
    release(): void {
      if (given) return;
      given = true;
      settle();
      // The place passes straight to the next waiter (the count stays), or is freed.
      const next = w.waiting.shift();
      if (next) next();
      else w.inFlight -= 1;
    },
  };
}

/** Resolves once this keyring has no send of `scope` in flight under `epoch`, or after `maxMs`. */
export function drainedUnder(ring: EpochKeyring, scope: string, epoch: number, maxMs: number): Promise<void> {
  const w = windows.get(ring)?.get(scope);
  if (!w || !w.under.get(epoch)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, maxMs);
    timer.unref?.();
    let list = w.drained.get(epoch);
    if (!list) w.drained.set(epoch, (list = []));
    list.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
