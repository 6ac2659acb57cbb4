/** Bounds of one commit: items, and bytes as `sizeOf` counts them (at least one item per commit). */
export interface BatchBounds<T> {
  maxItems: number;
  maxBytes?: number;
  sizeOf?: (item: T) => number;
}

/**
 * Group commit: everything submitted while a commit is in flight goes into the next one, so one
 * transaction carries a whole burst and each caller resolves only after its item is durable.
 * An idle writer commits immediately, so a lone send pays no batching delay.
 */
export class GroupCommitWriter<T, R> {
  private queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private running = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly commit: (items: T[]) => Promise<R[]>,
    private readonly bounds: BatchBounds<T> = { maxItems: 2_000 },
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Resolves once everything submitted so far has been committed or failed. */
  async idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.batchLength());
        try {
          const results = await this.commit(batch.map((b) => b.item));
          batch.forEach((b, i) => b.resolve(results[i] as R));
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** How many queued items the next commit takes. */
  private batchLength(): number {
    const { maxItems, maxBytes, sizeOf } = this.bounds;
    const limit = Math.min(maxItems, this.queue.length);
    if (maxBytes === undefined || !sizeOf) return limit;
    let bytes = 0;
    for (let n = 0; n < limit; n++) {
      bytes += sizeOf(this.queue[n]!.item);
      if (bytes > maxBytes) return Math.max(1, n);
    }
    return limit;
  }
}
