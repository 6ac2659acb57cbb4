/**
 * A Telegram update → the gateway's ChatInbound. The fields read here are parsed with zod (loose: Telegram adds
 * fields all the time), the same for a getUpdates answer and a webhook body.
 */
import type { ChatAttachment, ChatInbound } from '@claudemesh/gateway';
import { z } from 'zod';

const File = z.looseObject({ file_size: z.number().optional(), mime_type: z.string().optional(), file_name: z.string().optional() });
const PhotoSize = z.looseObject({ file_size: z.number().optional(), width: z.number(), height: z.number() });

const Message = z.looseObject({
  message_id: z.number().int(),
  chat: z.looseObject({ id: z.number().int(), type: z.string() }),
  from: z.looseObject({ id: z.number().int(), is_bot: z.boolean(), first_name: z.string().optional(), last_name: z.string().optional(), username: z.string().optional() }).optional(),
  text: z.string().optional(),
  caption: z.string().optional(),
  reply_to_message: z.looseObject({ message_id: z.number().int() }).optional(),
  document: File.optional(),
  photo: z.array(PhotoSize).optional(),
  audio: File.extend({ performer: z.string().optional(), title: z.string().optional() }).optional(),
  video: File.optional(),
  voice: File.optional(),
  video_note: File.optional(),
});

/** A webhook body: an update, whatever its kind (only `message` is read). */
export const TelegramUpdate = z.looseObject({ update_id: z.number().int(), message: z.unknown().optional() });

/** What the mapping reads of an update: a grammY `Update` and a parsed webhook body are both one. */
export interface UpdateLike {
  update_id: number;
  message?: unknown;
}

/** Why an update is not delivered (for the log). */
export type Skipped = 'not a message' | 'malformed message' | 'from a bot' | 'nothing to relay';

export function toChatInbound(update: UpdateLike): ChatInbound | Skipped {
  if (update.message === undefined) return 'not a message';
  const parsed = Message.safeParse(update.message);
  if (!parsed.success) return 'malformed message';
  const m = parsed.data;
  // No `from`: a channel post. From a bot: our own messages and other bots' (no loops between bots).
  if (!m.from || m.from.is_bot) return 'from a bot';
  const text = m.text ?? m.caption ?? '';
  const attachments = attachmentsOf(m);
  // Stickers, service messages (members joining, pins), locations…: nothing a mesh topic can show.
  if (text === '' && attachments.length === 0) return 'nothing to relay';
  const fullName = [m.from.first_name, m.from.last_name].filter((s) => s !== undefined && s !== '').join(' ');
  return {
    dedupeId: String(update.update_id),
    chat: String(m.chat.id),
    user: String(m.from.id),
    userName: fullName || (m.from.username ? `@${m.from.username}` : String(m.from.id)),
    text,
    messageId: String(m.message_id),
    ...(m.reply_to_message ? { thread: String(m.reply_to_message.message_id) } : {}),
    attachments,
    direct: m.chat.type === 'private',
  };
}

type Msg = z.output<typeof Message>;
type FileInfo = z.output<typeof File>;

function attachment(file: FileInfo, fallbackName: string, fallbackMime?: string): ChatAttachment {
  const mime = file.mime_type ?? fallbackMime;
  return { name: file.file_name ?? fallbackName, size: file.file_size ?? null, ...(mime ? { mime } : {}) };
}

function attachmentsOf(m: Msg): ChatAttachment[] {
  const out: ChatAttachment[] = [];
  if (m.document) out.push(attachment(m.document, 'document'));
  if (m.photo && m.photo.length > 0) {
    // Telegram sends every size it made of the photo; the largest is the original.
    const largest = m.photo.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
    out.push({ name: 'photo.jpg', size: largest.file_size ?? null, mime: 'image/jpeg' });
  }
  if (m.audio) {
    const titled = [m.audio.performer, m.audio.title].filter(Boolean).join(' - ');
    out.push(attachment(m.audio, titled ? `${titled}.mp3` : 'audio.mp3', 'audio/mpeg'));
  }
  if (m.video) out.push(attachment(m.video, 'video.mp4', 'video/mp4'));
  if (m.voice) out.push(attachment(m.voice, 'voice.ogg', 'audio/ogg'));
  if (m.video_note) out.push(attachment(m.video_note, 'video-note.mp4', 'video/mp4'));
  return out;
}
