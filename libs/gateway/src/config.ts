import { TopicName } from '@claudemesh/core';
import { z } from 'zod';

/** The settings every gateway shares (docs/gateways.md §4); each plugin adds its surface's under its own key. */
export const GatewayCommon = {
  /** The mesh this gateway's home joined (name or id). */
  mesh: z.string().min(1),
  /** Which chat talks with which topic: a surface chat id, or `direct` for every one-to-one chat with the bot. */
  chats: z.array(z.strictObject({ chat: z.string().min(1).max(128), topic: TopicName })).max(64).default([])
    .refine((cs) => new Set(cs.map((c) => c.chat)).size === cs.length, 'a chat may appear once (one topic per chat)'),
  /** Per linked user: messages a minute taken to the mesh, and the burst allowed above that rate. */
  rate: z.strictObject({
    per_minute: z.number().int().min(1).max(600).default(20),
    burst: z.number().int().min(1).max(100).default(5),
  }).default({ per_minute: 20, burst: 5 }),
  /** How often the topics are read besides their pushes (a missed push is found here). */
  poll_ms: z.number().int().min(100).max(60_000).default(2000),
};
export const GatewayCommonConfig = z.strictObject(GatewayCommon);
export type GatewayCommonConfig = z.output<typeof GatewayCommonConfig>;
