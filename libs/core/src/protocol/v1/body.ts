import { z } from 'zod';
import { MESSAGE_PRIORITIES } from './body-codec.js';
import { MessageId } from './primitives.js';

export { decodeBody, encodeBody, envelopeOf, isMessagePriority, MESSAGE_PRIORITIES, type DecodedBody } from './body-codec.js';

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
});
export type MessageBody = z.infer<typeof MessageBody>;
