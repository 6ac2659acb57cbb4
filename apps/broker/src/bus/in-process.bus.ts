import { Injectable, Logger } from '@nestjs/common';
import type { Bus, BusEvent } from './bus.js';

/** Synchronous in-memory bus for a single broker node. */
@Injectable()
export class InProcessBus implements Bus {
  private readonly logger = new Logger('Bus');
  private readonly handlers = new Map<string, Set<(event: BusEvent) => void>>();

  publish(topic: string, event: BusEvent): void {
    const set = this.handlers.get(topic);
    if (!set) return;
    for (const handler of set) {
      try {
        handler(event);
      } catch (error) {
        this.logger.error(`handler for ${topic} failed: ${(error as Error).message}`);
      }
    }
  }

  subscribe(topic: string, handler: (event: BusEvent) => void): () => void {
    let set = this.handlers.get(topic);
    if (!set) {
      set = new Set();
      this.handlers.set(topic, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0) this.handlers.delete(topic);
    };
  }
}
