/**
 * A bounded queue of pushes with a fixed number of workers: pushes wait here off the request path,
 * at most `capacity` of them; one more drops the oldest waiting (counted in `dropped`). A push
 * that fails is not retried: the next mention is the retry.
 */
export class PushQueue<T> {
  private readonly waiting: T[] = [];
  private running = 0;
  private closed = false;
  /** Pushes dropped because the queue was full. */
  dropped = 0;
  /** Pushes started (sent or failed). */
  started = 0;

  constructor(
    private readonly capacity: number,
    private readonly concurrency: number,
    private readonly work: (job: T) => Promise<void>,
  ) {}

  get pending(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.running;
  }

  push(job: T): void {
    if (this.closed) return;
    if (this.waiting.length >= this.capacity) {
      this.waiting.shift();
      this.dropped++;
    }
    this.waiting.push(job);
    this.pump();
  }

  /** Drops what waits; what runs finishes (each has its own timeout). */
  close(): void {
    this.closed = true;
    this.dropped += this.waiting.length;
    this.waiting.length = 0;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      this.started++;
      void this.work(job)
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }
}
