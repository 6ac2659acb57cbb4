import { PermanentSendError, RetryAfter, type ChatOutbound } from '@claudemesh/gateway';
import { GrammyError, type Api } from 'grammy';

/**
 * Answers that no retry changes: 400 (chat not found, group upgraded, no right to write), 401 (bad
 * token), 403 (bot blocked by the user, kicked from the group), 404 (a token Telegram does not know).
 */
const PERMANENT = new Set([400, 401, 403, 404]);

/** Sends plain text (no parse_mode, so code blocks arrive as written), as a reply when there is a thread. */
export async function sendTelegramText(api: Api, m: ChatOutbound): Promise<{ messageId: string }> {
  const replyTo = m.thread !== undefined && /^\d+$/.test(m.thread) ? Number(m.thread) : undefined;
  try {
    const sent = await api.sendMessage(chatId(m.chat), m.text, {
      // The message answered may be gone (deleted); the text still matters more than the reply link.
      ...(replyTo !== undefined ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {}),
      link_preview_options: { is_disabled: true },
    });
    return { messageId: String(sent.message_id) };
  } catch (err) {
    throw toSendError(err);
  }
}

/** A GrammyError → RetryAfter (429) or PermanentSendError; anything else (network, 5xx) as it is: the core retries it. */
export function toSendError(err: unknown): unknown {
  if (!(err instanceof GrammyError)) return err;
  if (err.error_code === 429) {
    const seconds = err.parameters.retry_after ?? 1;
    return new RetryAfter(seconds * 1000, `telegram sendMessage: 429 ${err.description}`);
  }
  if (PERMANENT.has(err.error_code)) {
    const moved = err.parameters.migrate_to_chat_id;
    const hint = moved !== undefined ? ` (the group became the supergroup ${moved}: link that chat instead)` : '';
    return new PermanentSendError(`telegram sendMessage: ${err.error_code} ${err.description}${hint}`);
  }
  return err;
}

/** Telegram chat ids are numbers (up to 52 bits); `@channelusername` stays a string. */
function chatId(chat: string): number | string {
  return /^-?\d+$/.test(chat) ? Number(chat) : chat;
}
