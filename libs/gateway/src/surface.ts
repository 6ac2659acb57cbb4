/**
 * What a chat gateway needs from one chat service (docs/gateways.md §2): an adapter per surface
 * (Telegram, Slack, WhatsApp), built on the library made for its API. The gateway core does
 * everything else — linking, dedupe, the mesh side, splitting, retries — the same for all three.
 */

export type SurfaceName = 'telegram' | 'slack' | 'whatsapp';

/** A file the chat sent along: named with its size, never fetched by the gateway. */
export interface ChatAttachment {
  name: string;
  /** Bytes, when the surface says. */
  size: number | null;
  mime?: string;
}

/** One message from the chat, as an adapter hands it to the gateway. */
export interface ChatInbound {
  /**
   * The surface's own id of this delivery, unique per surface and the same on every redelivery:
   * Telegram `update_id`, Slack `event_id`, WhatsApp message id (`wamid…`).
   */
  dedupeId: string;
  /** Where it was said: Telegram chat id, Slack channel id (`C…`/`D…`), WhatsApp: the sender's number (`wa_id`). */
  chat: string;
  /** Who said it: Telegram user id, Slack user id (`U…`), WhatsApp `wa_id`. */
  user: string;
  /** How the surface names them (shown when the user is not linked to a member). */
  userName: string;
  text: string;
  /** The surface's id of this message: Telegram `message_id`, Slack `ts`, WhatsApp `wamid`. */
  messageId: string;
  /**
   * The message it answers or the thread it is in, as a surface message id: Telegram
   * `reply_to_message.message_id`, Slack `thread_ts` (when not the message's own ts), WhatsApp `context.id`.
   */
  thread?: string;
  attachments: ChatAttachment[];
  /** A one-to-one conversation with the bot (Telegram private chat, Slack IM, every WhatsApp chat). */
  direct: boolean;
}

/** One message to the chat, already within the surface's `maxText`. */
export interface ChatOutbound {
  chat: string;
  text: string;
  /** A surface message id to answer (Telegram reply, Slack thread_ts, WhatsApp context). */
  thread?: string;
}

/** Thrown by `Surface.send` when the API answered 429: try again after `ms` (its `retry_after`, `Retry-After`). */
export class RetryAfter extends Error {
  constructor(readonly ms: number, message = `rate limited: retry after ${ms} ms`) {
    super(message);
    this.name = 'RetryAfter';
  }
}

/** Thrown by `Surface.send` for a refusal that will not change on retry (unknown chat, bot removed, bad token). */
export class PermanentSendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentSendError';
  }
}

export interface SurfaceStatus {
  connected: boolean;
  /** e.g. `polling`, `webhook`, `socket`, `http`. */
  mode: string;
  /** ISO time of the last event received from the surface. */
  last_event_at: string | null;
  last_error: string | null;
}

/** The adapter of one chat service. */
export interface Surface {
  readonly name: SurfaceName;
  /** Most characters of one message the API takes (the core splits longer text). */
  readonly maxText: number;
  /**
   * Starts receiving. `deliver` resolves once the gateway has taken the message over durably (it is
   * on the mesh, or refused for good); only then may the adapter acknowledge it to the surface or
   * move its offset. A rejection means: do not acknowledge, let the surface deliver it again.
   * Messages the bot itself sent, edits and non-message events are not delivered.
   */
  start(deliver: (m: ChatInbound) => Promise<void>): Promise<void>;
  /** Sends one message; its surface message id. Throws RetryAfter on 429, PermanentSendError when retrying is useless. */
  send(m: ChatOutbound): Promise<{ messageId: string }>;
  /** Stops receiving and closes what it opened (servers, sockets, polling). */
  stop(): Promise<void>;
  status(): SurfaceStatus;
}
