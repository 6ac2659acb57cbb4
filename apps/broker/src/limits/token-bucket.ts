/**
 * A token bucket: `ratePerS` tokens a second, holding at most `capacity`. A cost larger than the
 * capacity (one big frame against a byte bucket) passes once the bucket is full and leaves it in
 * debt, so it delays what follows instead of never passing.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly ratePerS: number,
    readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.at = now;
  }

  /** Milliseconds until `cost` may be taken; 0 when it may be now. */
  waitMs(cost: number, now: number): number {
    this.refill(now);
    const need = Math.min(cost, this.capacity);
    return this.tokens >= need ? 0 : Math.ceil(((need - this.tokens) * 1000) / this.ratePerS);
  }

  take(cost: number, now: number): void {
    this.refill(now);
    this.tokens -= cost;
  }

  /** A full bucket is the same as a fresh one: its owner may be forgotten. */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.capacity;
  }

  private refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) * this.ratePerS) / 1000);
    this.at = now;
  }
}
