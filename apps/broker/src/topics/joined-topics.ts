import type { ResolvedTopic } from './topics.service.js';

/** Topics one connection remembers: a session rarely posts to more, and past it topics are looked up each time. */
export const MAX_JOINED_TOPICS = 256;

/**
 * The topics one WebSocket connection's member was found to have joined, by name (TopicsService
 * resolve): a post to one of them needs no lookup of the topic. What a topic is (id, visibility,
 * encryption, history) never changes once it is created; that the member joined it changes only by
 * its own leave, whose `topic_left` bus event reaches every connection of the member on every node
 * (forget), and by revocation, which closes them. A topic found not joined is never kept: it is
 * looked up again each time (another member may add this one to a private topic meanwhile).
 */
export class JoinedTopics {
  private readonly byName = new Map<string, ResolvedTopic>();

  get(name: string): ResolvedTopic | undefined {
    return this.byName.get(name);
  }

  /** Keeps a topic the member joined (others are ignored), within MAX_JOINED_TOPICS. */
  remember(t: ResolvedTopic): void {
    if (!t.joined || (this.byName.size >= MAX_JOINED_TOPICS && !this.byName.has(t.name))) return;
    this.byName.set(t.name, t);
  }

  /** The member left the topic `topicId`: looked up again from now on. */
  forget(topicId: string): void {
    for (const [name, t] of this.byName) if (t.id === topicId) this.byName.delete(name);
  }

  get size(): number {
    return this.byName.size;
  }
}
