import { z } from 'zod';
import { MessageId } from './primitives.js';

/**
 * What the CLI, daemon and push-pipe put inside the ciphertext (docs/protocol.md §6.3): a small JSON
 * envelope carrying the text with its priority and the message it answers. The broker never sees
 * it. Plaintext that is not such an envelope is a plain text message of priority `next`.
 */
export const MessagePriority = z.enum(['now', 'next', 'low']);
export type MessagePriority = z.infer<typeof MessagePriority>;

export const MessageBody = z.strictObject({
  cm: z.literal(1),
  text: z.string(),
  priority: MessagePriority.optional(),
  reply_to: MessageId.optional(),
});
export type MessageBody = z.infer<typeof MessageBody>;

export interface DecodedBody {
  text: string;
  priority: MessagePriority;
  replyTo: string | null;
}

export function encodeBody(text: string, options: { priority?: MessagePriority; replyTo?: string } = {}): string {
  const body: MessageBody = { cm: 1, text };
  if (options.priority && options.priority !== 'next') body.priority = options.priority;
  if (options.replyTo) body.reply_to = options.replyTo;
  return JSON.stringify(MessageBody.parse(body));
}

export function decodeBody(plaintext: string): DecodedBody {
  if (plaintext.startsWith('{"cm":')) {
    try {
      const parsed = MessageBody.safeParse(JSON.parse(plaintext));
      if (parsed.success) return { text: parsed.data.text, priority: parsed.data.priority ?? 'next', replyTo: parsed.data.reply_to ?? null };
    } catch {
      // not JSON: plain text that happens to start like an envelope
    }
  }
  return { text: plaintext, priority: 'next', replyTo: null };
}
