/** A bounded set of recently seen ids: recipients dedupe at-least-once redeliveries with it. */
export class SeenSet {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 50_000) {}

  /** Returns true when the id was not seen before (and records it). */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }

  /** Forgets an id (its processing failed, so a redelivery must be processed again). */
  delete(id: string): void {
    this.ids.delete(id);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }
}
