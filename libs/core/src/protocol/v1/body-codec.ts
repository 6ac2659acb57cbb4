/**
 * The message body envelope's codec (docs/protocol.md §6.3) without schema-library dependencies,
 * so the CLI's fast path can use it without loading zod (about 90 ms of start-up here). `body.ts`
 * holds the zod schema; a test checks both accept the same envelopes.
 */
export const MESSAGE_PRIORITIES = ['now', 'next', 'low'] as const;
export type MessagePriority = (typeof MESSAGE_PRIORITIES)[number];

/**
 * A message a bridge forwarded from another mesh (docs/plugins.md "Bridge"): who wrote it where, and
 * the meshes it passed through (origin first), which is how bridges stop a message going round.
 */
export interface Forwarded {
  /** Meshes crossed so far: 1 after the first bridge. */
  hops: number;
  /** Mesh ids it has been in, the origin first. */
  path: string[];
  /** The original sender's display name, and its mesh's name. */
  from: string;
  mesh: string;
}

export interface DecodedBody {
  text: string;
  priority: MessagePriority;
  replyTo: string | null;
  /** Set on a message a bridge forwarded. */
  forwarded?: Forwarded;
}

/** Hops a forwarded message may have (a bridge's own max_hops is usually lower). */
export const MAX_FORWARD_HOPS = 16;
const FORWARD_KEYS = new Set(['hops', 'path', 'from', 'mesh']);

function forwardedOf(value: unknown): Forwarded | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (Object.keys(v).some((k) => !FORWARD_KEYS.has(k))) return null;
  const { hops, path, from, mesh } = v;
  if (typeof hops !== 'number' || !Number.isInteger(hops) || hops < 1 || hops > MAX_FORWARD_HOPS) return null;
  if (!Array.isArray(path) || path.length < 1 || path.length > MAX_FORWARD_HOPS + 1 || !path.every((p) => typeof p === 'string' && p.length > 0 && p.length <= 128)) return null;
  if (typeof from !== 'string' || from.length > 128 || typeof mesh !== 'string' || mesh.length > 128) return null;
  return { hops, path: path as string[], from, mesh };
}

const MESSAGE_ID = /^[1-9][0-9]{0,18}$/;
const ENVELOPE_KEYS = new Set(['cm', 'text', 'priority', 'reply_to', 'fwd']);

export function isMessagePriority(value: unknown): value is MessagePriority {
  return typeof value === 'string' && (MESSAGE_PRIORITIES as readonly string[]).includes(value);
}

export function encodeBody(text: string, options: { priority?: MessagePriority; replyTo?: string; forwarded?: Forwarded } = {}): string {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (options.priority !== undefined && !isMessagePriority(options.priority)) throw new TypeError(`priority must be one of ${MESSAGE_PRIORITIES.join(', ')}`);
  if (options.replyTo !== undefined && !MESSAGE_ID.test(options.replyTo)) throw new TypeError('reply_to must be a message id');
  const body: Record<string, unknown> = { cm: 1, text };
  if (options.priority && options.priority !== 'next') body['priority'] = options.priority;
  if (options.replyTo) body['reply_to'] = options.replyTo;
  if (options.forwarded) {
    if (!forwardedOf(options.forwarded)) throw new TypeError('forwarded must be { hops 1..16, path of mesh ids, from, mesh }');
    const { hops, path, from, mesh } = options.forwarded;
    body['fwd'] = { hops, path, from, mesh };
  }
  return JSON.stringify(body);
}

/** An envelope's fields, or null when `value` is not a valid version-1 envelope. */
export function envelopeOf(value: unknown): DecodedBody | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (v['cm'] !== 1 || typeof v['text'] !== 'string') return null;
  if (Object.keys(v).some((k) => !ENVELOPE_KEYS.has(k))) return null;
  if (v['priority'] !== undefined && !isMessagePriority(v['priority'])) return null;
  if (v['reply_to'] !== undefined && (typeof v['reply_to'] !== 'string' || !MESSAGE_ID.test(v['reply_to']))) return null;
  const forwarded = v['fwd'] === undefined ? undefined : forwardedOf(v['fwd']);
  if (forwarded === null) return null;
  return {
    text: v['text'], priority: (v['priority'] as MessagePriority | undefined) ?? 'next', replyTo: (v['reply_to'] as string | undefined) ?? null,
    ...(forwarded ? { forwarded } : {}),
  };
}

export function decodeBody(plaintext: string): DecodedBody {
  if (plaintext.startsWith('{"cm":')) {
    try {
      const envelope = envelopeOf(JSON.parse(plaintext));
      if (envelope) return envelope;
    } catch {
      // not JSON: plain text that happens to start like an envelope
    }
  }
  return { text: plaintext, priority: 'next', replyTo: null };
}
