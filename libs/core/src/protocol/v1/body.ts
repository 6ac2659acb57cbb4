import { z } from 'zod';
import { MAX_FORWARD_HOPS, MESSAGE_PRIORITIES } from './body-codec.js';
import { MessageId } from './primitives.js';

export { decodeBody, encodeBody, envelopeOf, isMessagePriority, MAX_FORWARD_HOPS, MESSAGE_PRIORITIES, type DecodedBody, type Forwarded } from './body-codec.js';

/**
 * What the CLI, daemon and push-pipe put inside the ciphertext (docs/protocol.md §6.3): a small JSON
 * envelope carrying the text with its priority and the message it answers. The broker never sees
 * it. Plaintext that is not such an envelope is a plain text message of priority `next`. The codec
 * (body-codec.ts) is schema-free for fast start-up; this schema is the same contract for validators.
 */
export const MessagePriority = z.enum(MESSAGE_PRIORITIES);
export type MessagePriority = z.infer<typeof MessagePriority>;

export const MessageBody = z.strictObject({
  cm: z.literal(1),
  text: z.string(),
  priority: MessagePriority.optional(),
  reply_to: MessageId.optional(),
  /** Set by a bridge on what it forwards from another mesh (docs/plugins.md "Bridge"). */
  fwd: z.strictObject({
    hops: z.number().int().min(1).max(MAX_FORWARD_HOPS),
    path: z.array(z.string().min(1).max(128)).min(1).max(MAX_FORWARD_HOPS + 1),
    from: z.string().max(128),
    mesh: z.string().max(128),
  }).optional(),
});
export type MessageBody = z.infer<typeof MessageBody>;
