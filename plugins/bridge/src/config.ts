import { MAX_FORWARD_HOPS } from '@claudemesh/core/body';
import { TopicName } from '@claudemesh/core';
import { z } from 'zod';

/** `@name`-less group name, or `*` for the whole mesh (a broadcast). */
const GroupName = z.string().regex(/^(\*|[a-z0-9][a-z0-9_-]{0,63})$/, 'a group name (without @), or * for broadcasts');

const End = z.strictObject({
  /** A mesh this bridge's home joined: its name or id. */
  mesh: z.string().min(1),
  /** A topic of that mesh… */
  topic: TopicName.optional(),
  /** …or a group (`@name` traffic; `*`: broadcasts), forwarded from the pushes the bridge gets as its member. */
  group: GroupName.optional(),
}).refine((e) => (e.topic === undefined) !== (e.group === undefined), 'give one of topic or group');

/** The bridge's config (docs/plugins.md "Bridge"). */
export const BridgeConfig = z.strictObject({
  routes: z.array(z.strictObject({ from: End, to: End, both_ways: z.boolean().default(true) })).min(1).max(32),
  /** Meshes a message may cross in all: one bridge hop is 1. */
  max_hops: z.number().int().min(1).max(MAX_FORWARD_HOPS).default(2),
  filter: z.strictObject({
    /** Only messages from these senders (display names, the original sender's for a forwarded one). */
    senders: z.array(z.string().min(1)).max(256).optional(),
    exclude_senders: z.array(z.string().min(1)).max(256).default([]),
    /** Only messages whose text matches (a JavaScript regular expression). */
    pattern: z.string().max(500).refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, 'not a valid regular expression').optional(),
  }).prefault({}),
  /** How often each lane looks for new messages besides the pushes it gets (ms). */
  poll_ms: z.number().int().min(20).max(60_000).default(250),
  /**
   * Forwards a lane keeps in flight. 1 keeps the destination in the source's exact order; more
   * forward faster, and posts in flight together may land a place or two apart.
   */
  window: z.number().int().min(1).max(256).default(16),
});
export type BridgeConfig = z.output<typeof BridgeConfig>;
