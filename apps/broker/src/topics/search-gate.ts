import { RateLimitedError } from '../http/rate-limited.error.js';

/** What a refused search is told to wait: about one search's time. */
const QUEUE_FULL_RETRY_MS = 1_000;

/**
 * Lets at most `concurrency` searches use the database at once, others wait in line (at most
 * `queue`; beyond, E_RATE_LIMITED). On the embedded database, whose one session serves every query,
 * a search therefore never has another search queued ahead of a hello or a send.
 */
export class SearchGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) {
        throw new RateLimitedError(`the broker is running ${this.running} searches with ${this.waiting.length} waiting, its maximum; retry shortly`, QUEUE_FULL_RETRY_MS);
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next in line, or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }
}
