import { batch, signal } from '@preact/signals';
import type { Api } from '../api.js';
import { compareIds } from '../ids.js';
import type { TopicMessage } from '../types.js';

const PAGE = 50;

/** Adds `incoming` to `list` (oldest first), each id once, in id order. */
export function mergeMessages(list: TopicMessage[], incoming: TopicMessage[]): TopicMessage[] {
  const fresh = incoming.filter((m) => !list.some((x) => x.id === m.id));
  if (fresh.length === 0) return list;
  const last = list[list.length - 1];
  const sorted = [...fresh].sort((a, b) => compareIds(a.id, b.id));
  // The common case, a live message newer than everything held, appends without a re-sort.
  if (!last || compareIds(sorted[0]!.id, last.id) > 0) return [...list, ...sorted];
  return [...list, ...sorted].sort((a, b) => compareIds(a.id, b.id));
}

/** One topic's loaded messages: the newest page first, older pages on demand, live ones merged in. */
export class Timeline {
  readonly messages = signal<TopicMessage[]>([]);
  readonly hasMore = signal(true);
  readonly loading = signal(false);
  readonly loaded = signal(false);
  readonly error = signal<string | null>(null);

  constructor(
    private readonly api: Api,
    readonly topic: string,
  ) {}

  /** Messages from the stream or a post; true when at least one was new. */
  add(incoming: TopicMessage[]): boolean {
    const before = this.messages.value;
    const after = mergeMessages(before, incoming);
    if (after === before) return false;
    this.messages.value = after;
    return true;
  }

  has(id: string): boolean {
    return this.messages.value.some((m) => m.id === id);
  }

  newestId(): string | null {
    const list = this.messages.value;
    return list.length ? list[list.length - 1]!.id : null;
  }

  async loadLatest(): Promise<void> {
    if (this.loading.value) return;
    this.loading.value = true;
    try {
      const page = await this.api.history(this.topic, { limit: PAGE });
      batch(() => {
        this.add(page.messages);
        this.hasMore.value = page.has_more;
        this.loaded.value = true;
        this.error.value = null;
      });
    } catch (error) {
      this.error.value = (error as Error).message;
    } finally {
      this.loading.value = false;
    }
  }

  /** The page before the oldest loaded message; false when there is nothing older. */
  async loadOlder(): Promise<boolean> {
    const oldest = this.messages.value[0];
    if (this.loading.value || !this.hasMore.value || !oldest) return false;
    this.loading.value = true;
    try {
      const page = await this.api.history(this.topic, { before: oldest.id, limit: PAGE });
      // One render for both, so the view restores its scroll position against the final height.
      batch(() => {
        this.add(page.messages);
        this.hasMore.value = page.has_more;
      });
      return page.messages.length > 0;
    } catch (error) {
      this.error.value = (error as Error).message;
      return false;
    } finally {
      this.loading.value = false;
    }
  }
}
