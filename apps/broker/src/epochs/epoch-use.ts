import type { EpochDue } from '@claudemesh/core';

/** When a scope's key is rotated on a schedule (docs/protocol.md §5.6): 0 turns a bound off. */
export interface EpochRotationPolicy {
  /** Messages under one epoch; the next message after that many is refused until a rotation. */
  messages: number;
  /** Age of an epoch (from when the broker accepted it) after which the next message rotates first. */
  afterMs: number;
}

/** 100 messages or 7 days, whichever comes first (CLAUDEMESH_EPOCH_ROTATE_MESSAGES, CLAUDEMESH_EPOCH_ROTATE_AFTER_MS). */
export const DEFAULT_EPOCH_ROTATION: EpochRotationPolicy = Object.freeze({ messages: 100, afterMs: 7 * 24 * 3600_000 });

/** Whether the policy says an epoch is due, given what it carried and when it was accepted. Pure, for tests. */
export function scheduledRotationDue(policy: EpochRotationPolicy, sent: number, acceptedAt: number, now: number): boolean {
  return (policy.messages > 0 && sent >= policy.messages) || (policy.afterMs > 0 && now - acceptedAt >= policy.afterMs);
}

/**
 * The `epoch_due` hint beside the ack of a message stored under `epoch` (docs/protocol.md §5.6
 * "Scheduled rotation"), or null when the epoch is not near its rotation: at the start of the last
 * fifth of the message bound (at least one message) and at each quarter of it after, or in the last
 * tenth of the age bound. `sent` counts the
 * stored message. Early enough that a sender's rotation, made in the background, is accepted before
 * the bound refuses its sends. Pure, for tests.
 */
export function epochDue(policy: EpochRotationPolicy, epoch: number, sent: number, acceptedAt: number, now: number): EpochDue | null {
  const remaining = policy.messages > 0 ? Math.max(0, policy.messages - sent) : null;
  const dueAt = policy.afterMs > 0 ? acceptedAt + policy.afterMs : null;
  // Not on every message of the last fifth, where every sender would rotate at once (all but one
  // losing the race): at its start and at every quarter of it after, until the bound.
  const lead = Math.max(1, Math.ceil(policy.messages / 5));
  const step = Math.max(1, Math.ceil(lead / 4));
  const soonByCount = remaining !== null && remaining <= lead && ((lead - remaining) % step === 0 || remaining === 0);
  const soonByAge = dueAt !== null && now >= dueAt - Math.ceil(policy.afterMs / 10);
  return soonByCount || soonByAge ? { epoch, remaining_messages: remaining, due_at: dueAt } : null;
}

/**
 * How many messages the current epoch of each topic scope has carried, counted from the database
 * the first time a scope is asked about on this node and then kept up as posts are stored. Only
 * the newest epoch of a scope is kept. On several nodes each counts what it stored on top of the
 * count it read, so the bound is approximate there (a few messages over, never a lost one).
 */
export class EpochUse {
  /** Per scope: the newest epoch asked about, its count read once (and once read, `base`), and the posts stored since. */
  private readonly current = new Map<string, { epoch: number; counted: Promise<number>; base: number | null; since: number }>();

  /**
   * Messages under `epoch` of the scope named by `scopeKey`; `countStored` reads them from the
   * database, called once per scope and epoch on this node.
   */
  async sent(scopeKey: string, epoch: number, countStored: () => Promise<number>): Promise<number> {
    let entry = this.current.get(scopeKey);
    if (!entry || entry.epoch !== epoch) {
      const counted = countStored();
      const fresh: { epoch: number; counted: Promise<number>; base: number | null; since: number } = { epoch, counted, base: null, since: 0 };
      counted.then((n) => void (fresh.base = n), () => undefined);
      entry = fresh;
      this.current.set(scopeKey, fresh);
      // A failed count is asked again next time rather than kept.
      counted.catch(() => {
        if (this.current.get(scopeKey) === fresh) this.current.delete(scopeKey);
      });
    }
    // A post stored while the count ran may be counted twice: over by a message or two, never under.
    return (await entry.counted) + entry.since;
  }

  /**
   * Takes a post's place under `epoch`, synchronously (a caller holding the topic's lock makes the
   * bound exact on this node): the count before it, or null when no count of that epoch is held (it
   * was not read yet, or a newer epoch replaced it). Undone by `release` when the post is not stored.
   */
  reserve(scopeKey: string, epoch: number): number | null {
    const entry = this.current.get(scopeKey);
    if (!entry || entry.epoch !== epoch || entry.base === null) return null;
    const before = entry.base + entry.since;
    entry.since += 1;
    return before;
  }

  /** A post under `epoch` was stored without a reservation (the mesh scope's group-committed sends). */
  posted(scopeKey: string, epoch: number): void {
    const entry = this.current.get(scopeKey);
    if (entry && entry.epoch === epoch) entry.since += 1;
  }

  /**
   * `epoch` was just accepted on this node: no message can be stored under it before it exists, so
   * its count is 0 without reading it. For a scope counted here already, under an older epoch.
   */
  started(scopeKey: string, epoch: number): void {
    const entry = this.current.get(scopeKey);
    if (!entry || entry.epoch >= epoch) return;
    this.current.set(scopeKey, { epoch, counted: Promise.resolve(0), base: 0, since: 0 });
  }

  /** A reserved post was not stored after all. */
  release(scopeKey: string, epoch: number): void {
    const entry = this.current.get(scopeKey);
    if (entry && entry.epoch === epoch && entry.since > 0) entry.since -= 1;
  }
}
