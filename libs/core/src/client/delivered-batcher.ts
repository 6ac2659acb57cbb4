/** Ids per `delivered` frame (the protocol's limit). */
const MAX_IDS_PER_FRAME = 500;

/**
 * Batches `delivered` confirmations: ids queued during one event-loop turn go out together (up to
 * 500 per frame), so a burst of pushes costs a frame per turn rather than one per message.
 */
export class DeliveredBatcher {
  private batch: string[] = [];
  private scheduled = false;

  constructor(private readonly write: (frame: string) => void) {}

  queue(messageId: string): void {
    this.batch.push(messageId);
    if (this.batch.length >= MAX_IDS_PER_FRAME) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends everything queued now (and `ids` with it). */
  flush(ids: readonly string[] = []): void {
    this.scheduled = false;
    for (const id of ids) this.batch.push(id);
    while (this.batch.length > 0) this.write(JSON.stringify({ type: 'delivered', message_ids: this.batch.splice(0, MAX_IDS_PER_FRAME) }));
  }
}
