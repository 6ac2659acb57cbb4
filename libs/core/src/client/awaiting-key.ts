import type { ServerFrameMap } from '../protocol/v1/server-frames.js';

type PushFrame = ServerFrameMap['push'];

/** Held pushes at most, and their ciphertext bytes at most (docs/security.md §6, SDK limits). */
export const AWAITING_KEY_LIMITS = Object.freeze({ maxPushes: 1_000, maxBytes: 8 * 1024 * 1024 });

/**
 * `@group` / `*` pushes under a mesh epoch whose key has not reached this member yet (protocol
 * §5.6): held in memory and *not* confirmed, so the broker keeps them queued, until an epoch push
 * brings keys and they are tried again. On a reconnect the broker pushes them again anyway (they
 * were never confirmed), so nothing held here is the only copy. Bounded: a push beyond the limits is
 * not held (it is confirmed and reported as before, so one member without keys cannot grow it
 * without end).
 */
export class AwaitingKey {
  private readonly held = new Map<string, PushFrame>();
  private bytes = 0;

  constructor(private readonly limits: { maxPushes: number; maxBytes: number } = AWAITING_KEY_LIMITS) {}

  get size(): number {
    return this.held.size;
  }

  /** Holds a push; false when it does not fit (the caller confirms and reports it instead). */
  hold(frame: PushFrame): boolean {
    if (this.held.has(frame.message_id)) return true;
    const bytes = frame.ciphertext.length;
    if (this.held.size >= this.limits.maxPushes || this.bytes + bytes > this.limits.maxBytes) return false;
    this.held.set(frame.message_id, frame);
    this.bytes += bytes;
    return true;
  }

  /** Every held push, in arrival order, no longer held (to be tried again, and held again if still keyless). */
  take(): PushFrame[] {
    const frames = [...this.held.values()];
    this.clear();
    return frames;
  }

  clear(): void {
    this.held.clear();
    this.bytes = 0;
  }
}
