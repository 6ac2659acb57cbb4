import type { RateLimit } from '../config/rest-limits.config.js';

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept at most; past it, full buckets (they hold no state worth keeping) go first, then the oldest. */
const MAX_BUCKETS = 100_000;

/**
 * Token buckets by key (an address, an API key): `burst` tokens, refilled continuously at
 * `perMinute`. Memory stays bounded whatever keys an attacker makes up.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly maxBuckets = MAX_BUCKETS,
  ) {
    this.perMs = limit.perMinute / 60_000;
  }

  /** Takes a token: 0 when taken, otherwise the milliseconds until one will be there. */
  take(key: string, now = Date.now()): number {
    const b = this.current(key, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perMs));
  }

  /** Gives a token back (a request that turned out not to count), never above the burst. */
  give(key: string, now = Date.now()): void {
    const b = this.buckets.get(key);
    if (!b) return;
    this.refill(b, now);
    b.tokens = Math.min(this.limit.burst, b.tokens + 1);
  }

  get size(): number {
    return this.buckets.size;
  }

  private current(key: string, now: number): Bucket {
    let b = this.buckets.get(key);
    if (b) {
      this.refill(b, now);
      // Most recently used last, so eviction takes the oldest.
      this.buckets.delete(key);
      this.buckets.set(key, b);
      return b;
    }
    if (this.buckets.size >= this.maxBuckets) this.evict(now);
    b = { tokens: this.limit.burst, at: now };
    this.buckets.set(key, b);
    return b;
  }

  private refill(b: Bucket, now: number): void {
    if (now > b.at) b.tokens = Math.min(this.limit.burst, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
  }

  /** Frees a tenth of the room at once, so a flood of new keys costs one sweep per many keys. */
  private evict(now: number): void {
    const target = Math.floor(this.maxBuckets * 0.9);
    for (const [key, b] of this.buckets) {
      this.refill(b, now);
      if (b.tokens >= this.limit.burst) this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= target) break;
      this.buckets.delete(key);
    }
  }
}
