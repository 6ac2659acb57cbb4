/** A token bucket per user: `burst` at once, refilled at `per_minute`. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly perMinute: number, private readonly burst: number) {}
  take(user: string): boolean {
    const now = Date.now();
    const b = this.buckets.get(user) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.perMinute) / 60_000);
    b.at = now;
    this.buckets.set(user, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
