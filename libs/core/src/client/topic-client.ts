import type { TopicMessage } from '../protocol/v1/api.js';
import type { ErrorCode } from '../protocol/v1/errors.js';
import type { ServerFrameMap } from '../protocol/v1/server-frames.js';
import { newClientId } from './client-id.js';
import { SeenSet } from './seen-set.js';
import { UnackedSends } from './unacked-sends.js';
import type { TopicPostResult } from './api-client.js';

export type TopicAck = ServerFrameMap['topic_ack'];
export type TopicPage = { messages: TopicMessage[]; has_more: boolean };
export interface TopicHistoryQuery {
  before?: string;
  after?: string;
  limit?: number;
}

/** What the topic side needs from the connection that carries it. */
export interface TopicTransport {
  write(frame: string): void;
  canWrite(): boolean;
  history(topic: string, q: TopicHistoryQuery): Promise<TopicPage>;
  /** The member this client speaks for: its own messages are never emitted. */
  self(): string;
  emit(message: TopicMessage): void;
}

/** Refusals that a resend under the same client id cannot turn into an ack. */
const PERMANENT_TOPIC_ERRORS = new Set<ErrorCode>([
  'E_NOT_FOUND', 'E_FORBIDDEN', 'E_SCHEMA', 'E_CONFLICT', 'E_TOO_LARGE', 'E_BAD_FRAME', 'E_TOPIC_MODE', 'E_EPOCH_STALE', 'E_MESSAGE_INVALID',
]);
const CATCH_UP_PAGE = 200;

const idOf = (m: TopicMessage): bigint => BigInt(m.id);

/** A topic message sealed under an epoch key (body_version 2) and the members it mentions. */
export interface SealedTopicBody {
  key_epoch: number;
  nonce: string;
  ciphertext: string;
  sig: string;
  mentions: string[];
}

/**
 * Topic messages over the WebSocket (docs/protocol.md §5, `topic_send` / `topic_message` /
 * `topic_history`). Sends are retried under their client id until `topic_ack`, like DMs. Pushes are
 * not delivery-tracked by the broker, so this keeps, per topic, the highest message id emitted; after
 * a reconnect it reads the history after that id (holding live pushes of the topic meanwhile) and
 * emits what was missed, then the held pushes, oldest first and each message id once. A topic with
 * no cursor yet (no message seen, none set with `setCursor`) has nothing to catch up from.
 */
export class TopicClient {
  private readonly unacked: UnackedSends<TopicAck>;
  private readonly cursors = new Map<string, bigint>();
  private readonly seen = new SeenSet();
  /** Topics catching up, with the live pushes held until they have. */
  private readonly held = new Map<string, TopicMessage[]>();
  private epoch = 0;

  constructor(private readonly io: TopicTransport) {
    this.unacked = new UnackedSends<TopicAck>((frame) => io.write(frame), () => io.canWrite());
  }

  get unackedCount(): number {
    return this.unacked.size;
  }

  send(topic: string, text: string, options: { replyTo?: string; id?: string } = {}): Promise<TopicMessage> {
    const id = options.id ?? newClientId();
    const frame = JSON.stringify({ type: 'topic_send', id, topic, text, ...(options.replyTo !== undefined ? { reply_to: options.replyTo } : {}) });
    return this.unacked.add(id, frame).then((ack) => ack.message);
  }

  /**
   * Posts a body_version 2 message sealed by the caller (see topicSendEncrypted): `id` must be the
   * message id bound into its associated data. Resent under that id until acked, like send().
   */
  sendSealed(topic: string, id: string, body: SealedTopicBody, options: { replyTo?: string } = {}): Promise<TopicPostResult> {
    const frame = JSON.stringify({
      type: 'topic_send', id, topic, body_version: 2, key_epoch: body.key_epoch, nonce: body.nonce, ciphertext: body.ciphertext, sig: body.sig,
      mentions: body.mentions, ...(options.replyTo !== undefined ? { reply_to: options.replyTo } : {}),
    });
    return this.unacked.add(id, frame).then((ack) => ({ message: ack.message, duplicate: ack.duplicate, ...(ack.epoch_due ? { epoch_due: ack.epoch_due } : {}) }));
  }

  /** The highest message id of `topic` this client has seen: the catch-up starts after it. */
  cursor(topic: string): string | undefined {
    return this.cursors.get(topic)?.toString();
  }

  /** Starts (or moves forward) the catch-up point of a topic, e.g. from an application's own store. */
  setCursor(topic: string, messageId: string): void {
    const id = BigInt(messageId);
    if ((this.cursors.get(topic) ?? 0n) < id) this.cursors.set(topic, id);
  }

  onAck(frame: TopicAck): void {
    this.unacked.acked(frame);
  }

  /** An error frame whose ref is a pending topic_send; true when it was one (handled here). */
  onError(ref: string, code: ErrorCode, err: Error, retryAfterMs?: number): boolean {
    if (!this.unacked.has(ref)) return false;
    if (PERMANENT_TOPIC_ERRORS.has(code)) this.unacked.fail(ref, err);
    else if (retryAfterMs !== undefined) this.unacked.retryAfter(ref, retryAfterMs);
    return true; // otherwise transient: the resend timer retries under the same id
  }

  onPush(frame: ServerFrameMap['topic_message']): void {
    const held = this.held.get(frame.topic);
    if (held) held.push(frame.message);
    else this.deliver(frame.message);
  }

  /** After hello_ack: resend unacked topic sends, and catch up every topic with a cursor. */
  onConnected(reportError: (err: Error) => void): void {
    this.unacked.resendAll();
    const epoch = ++this.epoch;
    for (const topic of this.cursors.keys()) {
      if (this.held.has(topic)) continue;
      this.held.set(topic, []);
      this.catchUp(topic, epoch).catch((err: unknown) => {
        // The connection dropped (the next hello_ack starts over) or the topic went away.
        if (this.epoch === epoch) this.release(topic);
        reportError(err instanceof Error ? err : new Error(String(err)));
      });
    }
  }

  /** The connection closed: held pushes are dropped, the next catch-up reads them from the history. */
  onDisconnected(): void {
    this.held.clear();
  }

  resendOlderThan(before: number): void {
    this.unacked.resendOlderThan(before);
  }

  failAll(err: Error): void {
    this.unacked.failAll(err);
  }

  private async catchUp(topic: string, epoch: number): Promise<void> {
    for (;;) {
      const after = this.cursors.get(topic)!.toString();
      const page = await this.io.history(topic, { after, limit: CATCH_UP_PAGE });
      if (this.epoch !== epoch) return;
      for (const m of page.messages) this.deliver(m);
      if (!page.has_more || page.messages.length === 0) break;
    }
    this.release(topic);
  }

  private release(topic: string): void {
    const held = (this.held.get(topic) ?? []).sort((a, b) => (idOf(a) < idOf(b) ? -1 : 1));
    this.held.delete(topic);
    for (const m of held) this.deliver(m);
  }

  private deliver(m: TopicMessage): void {
    const id = idOf(m);
    if ((this.cursors.get(m.topic) ?? 0n) < id) this.cursors.set(m.topic, id);
    if (m.sender.member_pubkey === this.io.self() || !this.seen.add(m.id)) return;
    this.io.emit(m);
  }
}
