/**
 * A WhatsApp Cloud API webhook body (`entry[].changes[].value`), read into the gateway's inbound
 * messages. Meta adds fields over time, so unknown keys are dropped, not refused, and one odd change
 * or message is skipped (and named in a note) without losing the rest of the request.
 */
import type { ChatAttachment, ChatInbound } from '@claudemesh/gateway';
import { z } from 'zod';

const MEDIA_KINDS = ['image', 'document', 'audio', 'video', 'sticker'] as const;
type MediaKind = (typeof MEDIA_KINDS)[number];

const Media = z.object({ mime_type: z.string().optional(), filename: z.string().optional(), caption: z.string().optional() });
const Titled = z.object({ title: z.string() });

const WebhookMessage = z.object({
  from: z.string().min(1),
  id: z.string().min(1),
  type: z.string(),
  text: z.object({ body: z.string() }).optional(),
  image: Media.optional(),
  document: Media.optional(),
  audio: Media.optional(),
  video: Media.optional(),
  sticker: Media.optional(),
  /** A tap on a quick-reply button of a template. */
  button: z.object({ text: z.string() }).optional(),
  /** A choice from an interactive message's buttons or list. */
  interactive: z.object({ button_reply: Titled.optional(), list_reply: Titled.optional() }).optional(),
  /** Present on replies (with `id`) and on forwards (without). */
  context: z.object({ id: z.string().min(1).optional() }).optional(),
});
type WebhookMessage = z.output<typeof WebhookMessage>;

const ChangeValue = z.object({
  metadata: z.object({ phone_number_id: z.string() }).optional(),
  contacts: z.array(z.object({ wa_id: z.string(), profile: z.object({ name: z.string().optional() }).optional() })).optional(),
  messages: z.array(z.unknown()).optional(),
});

const Change = z.object({ field: z.string(), value: z.unknown() });

export const WebhookBody = z.object({
  object: z.string().optional(),
  entry: z.array(z.object({ changes: z.array(z.unknown()).default([]) })).default([]),
});

export interface ReadWebhook {
  /** In the order of the body. */
  inbound: ChatInbound[];
  /** What was left out and why, for the log: counts, types and ids, never message content. */
  notes: string[];
}

/** The messages of a webhook body sent to `phoneNumberId`; statuses and other fields are not messages. */
export function readWebhook(body: unknown, phoneNumberId: string): ReadWebhook {
  const out: ReadWebhook = { inbound: [], notes: [] };
  const parsed = WebhookBody.safeParse(body);
  if (!parsed.success) {
    out.notes.push('ignored a webhook body without an entry[] list');
    return out;
  }
  for (const entry of parsed.data.entry) {
    for (const rawChange of entry.changes) {
      const change = Change.safeParse(rawChange);
      if (!change.success || change.data.field !== 'messages') continue;
      const value = ChangeValue.safeParse(change.data.value);
      if (!value.success) {
        out.notes.push('ignored a messages change of an unexpected shape');
        continue;
      }
      const messages = value.data.messages ?? [];
      if (messages.length === 0) continue;
      const to = value.data.metadata?.phone_number_id;
      if (to !== phoneNumberId) {
        out.notes.push(`ignored ${messages.length} message(s) to phone_number_id ${to ?? '(none)'}, not the configured one`);
        continue;
      }
      const names = new Map((value.data.contacts ?? []).map((c) => [c.wa_id, c.profile?.name]));
      for (const raw of messages) {
        const m = WebhookMessage.safeParse(raw);
        if (!m.success) {
          out.notes.push('ignored a message of an unexpected shape');
          continue;
        }
        const inbound = toInbound(m.data, names.get(m.data.from));
        if (inbound) out.inbound.push(inbound);
        else out.notes.push(`ignored a message of type ${m.data.type} (${m.data.id})`);
      }
    }
  }
  return out;
}

function toInbound(m: WebhookMessage, name: string | undefined): ChatInbound | null {
  const content = contentOf(m);
  if (!content) return null;
  return {
    dedupeId: m.id,
    chat: m.from,
    user: m.from,
    userName: name || m.from,
    text: content.text,
    messageId: m.id,
    ...(m.context?.id ? { thread: m.context.id } : {}),
    attachments: content.attachments,
    direct: true,
  };
}

function contentOf(m: WebhookMessage): { text: string; attachments: ChatAttachment[] } | null {
  if (m.type === 'text' && m.text) return { text: m.text.body, attachments: [] };
  if (m.type === 'button' && m.button) return { text: m.button.text, attachments: [] };
  if (m.type === 'interactive' && m.interactive) {
    const title = m.interactive.button_reply?.title ?? m.interactive.list_reply?.title;
    return title === undefined ? null : { text: title, attachments: [] };
  }
  if (isMediaKind(m.type)) {
    const media = m[m.type];
    if (!media) return null;
    return { text: media.caption ?? '', attachments: [attachmentOf(m.type, media)] };
  }
  // Reactions, locations, contacts, orders, system notices and `unsupported` have no text to relay.
  return null;
}

function isMediaKind(type: string): type is MediaKind {
  return (MEDIA_KINDS as readonly string[]).includes(type);
}

/** The webhook names a file but never says its size; the gateway does not download it to find out. */
function attachmentOf(kind: MediaKind, media: z.output<typeof Media>): ChatAttachment {
  const mime = media.mime_type?.split(';')[0]?.trim() || undefined;
  const extension = mime?.split('/')[1];
  const name = media.filename || (extension ? `${kind}.${extension}` : kind);
  return { name, size: null, ...(mime ? { mime } : {}) };
}
