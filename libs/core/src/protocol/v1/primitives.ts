import { z } from 'zod';

export const PROTOCOL_VERSION = 1 as const;

/** Wire limits. A frame above MAX_FRAME_BYTES is refused with E_TOO_LARGE; the connection survives. */
export const LIMITS = Object.freeze({
  maxFrameBytes: 256 * 1024,
  /** Decoded ciphertext; its base64url form plus the frame's other fields stays under maxFrameBytes. */
  maxCiphertextBytes: 180 * 1024,
  maxSummaryChars: 1024,
  /** Tags one session advertises (`set_tags`, docs/protocol.md §5.7). */
  maxTagsPerSession: 32,
  maxIdsPerFrame: 500,
  /** Decoded ciphertext of one shared-state value. */
  maxStateValueBytes: 64 * 1024,
  maxStateKeysPerOwner: 1_000,
  helloSkewMs: 60_000,
  requestSkewMs: 300_000,
  /** How far ahead of broker time a hello's `session_expires_at` may lie (30 days). */
  maxSessionTtlMs: 30 * 24 * 3_600_000,
});

/** ed25519 public keys travel as 64 lowercase hex chars; they double as stable peer ids. */
export const PubkeyHex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a 64-char lowercase hex public key');

const B64U_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Whether `s` is the one spelling of its bytes in base64url (docs/protocol.md §1.1): the url-safe
 * alphabet, no padding, a length that is not 4n+1, and zero unused bits in the last character. It
 * answers what decoding and re-encoding then comparing would, without copying a 240 KB ciphertext.
 */
export function isCanonicalB64u(s: string): boolean {
  return /^[A-Za-z0-9_-]*$/.test(s) && hasCanonicalTail(s);
}

/** The length and last-character half of isCanonicalB64u, for schemas that checked the alphabet already. */
function hasCanonicalTail(s: string): boolean {
  const tail = s.length % 4;
  if (tail === 0) return true;
  if (tail === 1) return false;
  const last = B64U_DIGITS.indexOf(s[s.length - 1]!);
  // 2 trailing characters carry 8 bits of 12, 3 carry 16 of 18: the rest must be zero.
  return last >= 0 && (last & (tail === 2 ? 0x0f : 0x03)) === 0;
}

/** The byte length a canonical base64url string decodes to. */
export function b64uByteLength(s: string): number {
  return Math.floor((s.length * 3) / 4);
}

/**
 * A binary field: canonical base64url whose decoded length is `bytes` (exact) or within
 * `[min, max]`. Non-canonical spellings are refused, so the broker stores and forwards exactly
 * the bytes the sender meant, and every value has one spelling.
 */
export function b64uBytes(bytes: number | { min: number; max: number }): z.ZodString {
  const { min, max } = typeof bytes === 'number' ? { min: bytes, max: bytes } : bytes;
  const minChars = Math.ceil((min * 4) / 3);
  const maxChars = Math.ceil((max * 4) / 3);
  const size = min === max ? `${min} bytes (${minChars} characters)` : `${min}–${max} bytes`;
  return z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/, 'expected base64url without padding')
    .min(minChars, `expected base64url of ${size}`)
    .max(maxChars, `expected base64url of ${size}`)
    .refine(hasCanonicalTail, 'expected canonical base64url (a length that is not 4n+1, zero trailing bits)')
    .refine((s) => b64uByteLength(s) >= min && b64uByteLength(s) <= max, `expected base64url of ${size}`);
}

/** Everything else binary is canonical base64url without padding. */
export const B64u = z.string().regex(/^[A-Za-z0-9_-]*$/, 'expected base64url without padding').refine(hasCanonicalTail, 'expected canonical base64url (a length that is not 4n+1, zero trailing bits)');
export const NonEmptyB64u = B64u.min(1);
export const Signature = b64uBytes(64);
export const BoxNonce = b64uBytes(24);
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Text UTF-8 can carry: no lone UTF-16 surrogate (an encoder would silently replace it). */
export function isWellFormedText(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/**
 * Free text in a client frame or REST body (docs/protocol.md §1.1): `min`–`max` characters, where a
 * character is a Unicode code point (zod's `min`/`max` count code points, as JSON Schema's
 * `minLength`/`maxLength` do); never NUL, never a lone surrogate. Line breaks and other controls are
 * allowed unless the field says otherwise.
 */
export function freeText(min: number, max: number): z.ZodString {
  return (min > 0 ? z.string().min(min) : z.string())
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'text has no NUL character')
    .refine(isWellFormedText, 'text is well-formed Unicode (no lone surrogate)');
}

export const Uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'expected a lowercase uuid');
export const EpochMs = z.number().int().nonnegative().max(8_640_000_000_000_000);
/** Client message ids: ULIDs, UUIDs or any url-safe token; unique per sender member. */
export const ClientId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'expected 8–64 url-safe chars');
/** Broker message ids are decimal strings (a bigint sequence). */
export const MessageId = z.string().regex(/^[1-9][0-9]{0,18}$/, 'expected a decimal message id');
/** Chosen by the client, echoed back: 1–64 characters of free text. */
export const ReqId = freeText(1, 64);
/** Display names are addressable: they must not be confusable with a pubkey, a group or broadcast. */
export const DisplayName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected 1–64 chars: letters, digits, . _ - (not first)')
  .refine((s) => !/^[0-9a-f]{64}$/.test(s), 'a display name may not look like a public key');
export const GroupName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'expected 1–64 chars: a-z 0-9 _ -');
/** What a session advertises for tag routing (§5.7): `repo:billing`, `role:reviewer`, `lang:go`, or a bare word. */
export const PeerTag = z.string().regex(/^[a-z][a-z0-9-]{0,31}(:[a-z0-9][a-z0-9._/@+-]{0,127})?$/, 'expected name or name:value (lowercase; e.g. repo:billing)');
export const PeerType = z.enum(['ai', 'human', 'connector']);
export const PeerStatus = z.enum(['idle', 'working', 'dnd']);
export const MemberRole = z.enum(['owner', 'admin', 'member']);
export const DeliveryState = z.enum(['queued', 'delivered', 'read']);
/** Which delivery-state advances a sender has pushed to it as `receipt` frames. */
export const ReceiptPolicy = z.enum(['all', 'read', 'none']);
export type ReceiptPolicy = z.infer<typeof ReceiptPolicy>;
export const MessageKind = z.enum(['dm', 'group', 'broadcast']);
/** A send target: a display name, a member or session pubkey, `@group`, or `*` for the whole mesh. */
export const Target = z.union([
  z.literal('*'),
  z.string().regex(/^@[a-z0-9][a-z0-9_-]{0,63}$/, 'expected @group'),
  PubkeyHex,
  DisplayName,
]);

/**
 * What one member lets another do to it (docs/protocol.md §5.5). A member with no grant row for a
 * peer grants DEFAULT_CAPABILITIES; a blocked peer has none.
 */
export const Capability = z.enum(['dm', 'broadcast', 'read', 'state-read', 'state-write']);
export type Capability = z.infer<typeof Capability>;
export const CAPABILITIES: readonly Capability[] = Object.freeze(Capability.options);
export const DEFAULT_CAPABILITIES: readonly Capability[] = Object.freeze(['dm', 'broadcast', 'read', 'state-read'] as Capability[]);
/** A shared-state key: namespaced per owner member; url-safe, up to 128 chars. */
export const StateKey = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'expected 1–128 chars: letters, digits, . _ : / - (not first)');

export type PeerType = z.infer<typeof PeerType>;
export type PeerStatus = z.infer<typeof PeerStatus>;
export type MemberRole = z.infer<typeof MemberRole>;
export type DeliveryState = z.infer<typeof DeliveryState>;
export type MessageKind = z.infer<typeof MessageKind>;

/** The kind of a send follows from its target alone. */
export function kindOfTarget(target: string): MessageKind {
  if (target === '*') return 'broadcast';
  if (target.startsWith('@')) return 'group';
  return 'dm';
}
