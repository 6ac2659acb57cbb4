import type { TopicMessage } from '@claudemesh/core';

/**
 * The broker's internal message bus: how a committed message or receipt reaches the node holding
 * the recipient's connection. One node uses the in-process implementation; several nodes share a
 * NATS implementation of the same interface.
 */
export type BusEvent =
  | { kind: 'push'; messageId: string; frame: string }
  | { kind: 'receipt'; frame: string }
  | { kind: 'revoked'; memberId: string }
  /** On apiKeyChannel(id) when the key is revoked: its SSE streams end at once. */
  | { kind: 'apikey_revoked'; keyId: string }
  /** On memberTopic(m) when the member leaves a topic: its streams of a private topic end. */
  | { kind: 'topic_left'; topicId: string }
  /** A committed topic message: on topicChannel(id) for streams, and on memberTopic(m) for each member's WebSocket sessions. */
  | { kind: 'topic'; message: TopicMessage }
  /** A frame for each WebSocket session of memberTopic(m), encoded once by its sender (epoch_new, epoch_seal_new). */
  | { kind: 'control'; frame: string };

export interface Bus {
  publish(topic: string, event: BusEvent): void;
  /** Returns an unsubscribe function. */
  subscribe(topic: string, handler: (event: BusEvent) => void): () => void;
}

export const BUS = Symbol('BUS');

export const memberTopic = (memberId: string): string => `member.${memberId}`;
export const topicChannel = (topicId: string): string => `topic.${topicId}`;
export const apiKeyChannel = (keyId: string): string => `apikey.${keyId}`;
