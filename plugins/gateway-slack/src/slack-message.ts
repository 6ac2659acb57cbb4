import type { ChatAttachment } from '@claudemesh/gateway';
import { z } from 'zod';

/** The part of an Events API `event_callback` the gateway reads (https://api.slack.com/events/message). */
const SlackFile = z.looseObject({
  id: z.string().optional(),
  name: z.string().nullish(),
  title: z.string().nullish(),
  size: z.number().nullish(),
  mimetype: z.string().nullish(),
});
const MessageEvent = z.looseObject({
  type: z.literal('message'),
  subtype: z.string().optional(),
  bot_id: z.string().nullish(),
  channel: z.string().min(1),
  channel_type: z.string().optional(),
  user: z.string().min(1).optional(),
  text: z.string().optional(),
  ts: z.string().min(1),
  thread_ts: z.string().optional(),
  files: z.array(SlackFile).optional(),
});
const EventCallback = z.looseObject({ type: z.literal('event_callback'), event_id: z.string().min(1), event: MessageEvent });

// A file shared with text, and a thread reply also sent to the channel, are still someone speaking;
// every other subtype is an edit, a deletion, a join or a bot's post.
const SPOKEN_SUBTYPES = new Set(['file_share', 'thread_broadcast']);

/** A message as Slack sent it: the text still in Slack's markup. */
export interface SlackMessage {
  dedupeId: string;
  chat: string;
  user: string;
  /** Slack markup: `<@U…>` mentions, `<url|label>` links, `&lt;` `&gt;` `&amp;`. */
  markup: string;
  messageId: string;
  thread?: string;
  attachments: ChatAttachment[];
  direct: boolean;
}

/** The message of an event callback, or why it is not one for the mesh. */
export function readMessage(body: unknown): SlackMessage | { skip: string } {
  const parsed = EventCallback.safeParse(body);
  if (!parsed.success) return { skip: 'not a message event the gateway reads' };
  const { event_id, event } = parsed.data;
  if (event.bot_id) return { skip: 'posted by a bot' };
  if (event.subtype !== undefined && !SPOKEN_SUBTYPES.has(event.subtype)) return { skip: `subtype ${event.subtype}` };
  if (event.user === undefined) return { skip: 'no user' };
  const attachments = (event.files ?? []).map(
    (f): ChatAttachment => ({
      name: f.name ?? f.title ?? f.id ?? 'file',
      size: typeof f.size === 'number' ? f.size : null,
      ...(f.mimetype ? { mime: f.mimetype } : {}),
    }),
  );
  const markup = event.text ?? '';
  if (markup === '' && attachments.length === 0) return { skip: 'empty' };
  return {
    dedupeId: event_id,
    chat: event.channel,
    user: event.user,
    markup,
    messageId: event.ts,
    ...(event.thread_ts !== undefined && event.thread_ts !== event.ts ? { thread: event.thread_ts } : {}),
    attachments,
    // Older payloads lack channel_type; an IM's id starts with D.
    direct: event.channel_type !== undefined ? event.channel_type === 'im' : event.channel.startsWith('D'),
  };
}

const unescapeEntities = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/**
 * Slack markup as a person reads it (https://api.slack.com/reference/surfaces/formatting):
 * `<@U1>` → `@Ada`, `<#C1|general>` → `#general`, `<!here>` → `@here`, `<https://x|site>` → `site (https://x)`.
 */
export async function plainText(markup: string, nameOf: (user: string) => Promise<string>): Promise<string> {
  const parts: string[] = [];
  let last = 0;
  for (const m of markup.matchAll(/<([^<>]*)>/g)) {
    parts.push(unescapeEntities(markup.slice(last, m.index)));
    last = m.index + m[0].length;
    const inner = m[1]!;
    const bar = inner.indexOf('|');
    const target = bar >= 0 ? inner.slice(0, bar) : inner;
    const label = bar >= 0 ? unescapeEntities(inner.slice(bar + 1)) : undefined;
    if (target.startsWith('@')) parts.push(`@${label ?? (await nameOf(target.slice(1)))}`);
    else if (target.startsWith('#')) parts.push(`#${label ?? target.slice(1)}`);
    else if (target.startsWith('!')) parts.push(label ?? `@${target.slice(1).split('^')[0]}`);
    else {
      const url = unescapeEntities(target);
      parts.push(label === undefined || url.replace(/^(https?:\/\/|mailto:)/, '') === label ? url : `${label} (${url})`);
    }
  }
  parts.push(unescapeEntities(markup.slice(last)));
  return parts.join('');
}

/**
 * Text for chat.postMessage: Slack reads `<…>` as mentions and links, so a mesh message saying
 * `<!channel>` would notify everyone; escaped, it is shown as written (Slack: "Escaping text").
 */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
