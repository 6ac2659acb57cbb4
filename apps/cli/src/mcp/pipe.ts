import { SeenSet, type InboundMessage, type OpenedTopicMessage, type TopicMessage } from '@claudemesh/core';
import type { LocalStore } from '../store/local-store.js';
import { channelNotification, topicNotification, type ChannelNotification, type MeshRef } from './channel.js';

export type Notify = (notification: ChannelNotification) => Promise<void>;
export type Log = (line: string) => void;

/**
 * Turns inbound mesh messages into channel notifications. Each message is kept in the local store
 * first: that is the inbox Claude reads later (Claude Code never acks a notification, so pushing
 * does not mark anything read). A redelivery is never pushed twice.
 *
 * "Already in the store" alone does not mean "already pushed": the broker pushes to every live
 * session of the member, and any other process on this machine (a `claudemesh send` the same
 * Claude runs from Bash, a second Claude session) stores what reaches it in the same file. So a
 * message the store already holds is still pushed while it is unread and this pipe has not
 * pushed it; one that was already read is not.
 *
 * Notifications wait until the MCP client has finished its handshake, because the offline queue
 * drains as soon as the mesh connection opens, often before `notifications/initialized`.
 */
export class ChannelPipe {
  private ready = false;
  private readonly waiting: ChannelNotification[] = [];
  private readonly pushed = new SeenSet(10_000);

  constructor(
    private readonly store: LocalStore,
    private readonly mesh: MeshRef,
    private readonly notify: Notify,
    private readonly log: Log,
  ) {}

  /** Stores and pushes one message; false when nothing is pushed (a redelivery, or already read). */
  receive(m: InboundMessage): boolean {
    if (this.pushed.has(m.messageId)) return false;
    if (!this.keep(m) && !this.unread(m)) return false;
    this.pushed.add(m.messageId);
    const notification = channelNotification(m, this.mesh);
    if (this.ready) this.push(notification);
    else this.waiting.push(notification);
    return true;
  }

  /**
   * Pushes one topic message posted by another member. Topic messages are not kept in the local
   * inbox: the topic's history is their log (`claudemesh topic history`). Pushed once per id.
   * A message of an e2e topic is handed over opened (server.ts opens it with the keyring first).
   */
  receiveTopic(m: TopicMessage | OpenedTopicMessage): boolean {
    const key = `topic:${m.id}`;
    if (this.pushed.has(key)) return false;
    this.pushed.add(key);
    const notification = topicNotification(m, this.mesh);
    if (this.ready) this.push(notification);
    else this.waiting.push(notification);
    return true;
  }

  /** The client is initialized: push what waited, in arrival order, and everything after at once. */
  open(): void {
    this.ready = true;
    for (const notification of this.waiting.splice(0)) this.push(notification);
  }

  /** Notifications held back until {@link open}. */
  get pending(): number {
    return this.waiting.length;
  }

  /**
   * True if the message is new. When the store itself fails, the broker already counts the
   * message as delivered, so pushing it (possibly twice) beats losing it.
   */
  private keep(m: InboundMessage): boolean {
    try {
      return this.store.addInbound(this.mesh.mesh_id, m);
    } catch (error) {
      this.log(`could not store message ${m.messageId}: ${(error as Error).message}; pushing it anyway`);
      return true;
    }
  }

  /** Whether a message another process stored is still waiting to be read. */
  private unread(m: InboundMessage): boolean {
    try {
      return this.store.get(this.mesh.mesh_id, m.messageId)?.read_at === null;
    } catch {
      return true;
    }
  }

  private push(notification: ChannelNotification): void {
    this.notify(notification).catch((error: unknown) => {
      this.log(`could not push message ${notification.params.meta['message_id']}: ${(error as Error).message}`);
    });
  }
}
