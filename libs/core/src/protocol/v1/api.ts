import { z } from 'zod';
import { EpochNumber } from './epochs.js';
import { BoxNonce, ClientId, DisplayName, EpochMs, MemberRole, PeerStatus, PeerType, PubkeyHex, Signature, Uuid, b64uBytes, freeText } from './primitives.js';

/**
 * The topic and API-key surface (docs/topics.md): REST /api/v1 with bearer keys, SSE, and the
 * topic frames of the WebSocket. Requests are strict; responses are open.
 */

/** Topic names: lowercase, addressed as `#name` by the CLI, bare in URLs. */
export const TopicName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'expected 1–64 chars: a-z 0-9 _ - (not first)');
export const TopicVisibility = z.enum(['public', 'private']);
/** e2e: messages are body_version 2 under the topic's key epochs; plaintext: body_version 1 text the broker reads. */
export const TopicEncryption = z.enum(['e2e', 'plaintext']);
/**
 * An e2e topic's history for members who join later (docs/topics.md "Joiners and history"):
 * `since_join`, they read from the epoch that first lists them; `shared`, members also seal them the
 * keys of the earlier epochs they hold.
 */
export const TopicHistoryMode = z.enum(['since_join', 'shared']);
/** Topic message ids are decimal strings (a bigint sequence, separate from DM message ids). */
export const TopicMessageId = z.string().regex(/^[1-9][0-9]{0,18}$/, 'expected a decimal topic message id');
/** Where a catch-up starts (`after`): a topic message id, or `0` for the topic's beginning. */
export const TopicCursor = z.string().regex(/^(0|[1-9][0-9]{0,18})$/, 'expected a decimal topic message id, or 0 for the beginning');
export const ApiKeyCapability = z.enum(['read', 'send', 'admin']);
export type ApiKeyCapability = z.infer<typeof ApiKeyCapability>;
export const DEFAULT_TOPIC = 'general';
/**
 * What a member may do whatever its role (docs/protocol.md §8.3 "MemberScope"): `read`, `send`,
 * `admin` (the role's admin rights, for an owner or admin), and its topics (`null`: any). A plugin's
 * member is held to its manifest this way (docs/plugins.md §1.1). No scope: the role alone decides.
 */
export const MemberScope = z.strictObject({
  capabilities: z.array(ApiKeyCapability).max(3).transform((c) => [...new Set(c)].sort() as ApiKeyCapability[]),
  topics: z.array(TopicName).min(1).max(256).transform((t) => [...new Set(t)].sort()).nullable(),
});
export type MemberScope = z.output<typeof MemberScope>;
/** PUT /api/v1/meshes/:meshId/members/:pubkey/scope: `null` lifts the scope (owner or admin only). */
export const SetMemberScopeBody = z.strictObject({ scope: MemberScope.nullable() });
export type SetMemberScopeBody = z.output<typeof SetMemberScopeBody>;


export const TOPIC_LIMITS = Object.freeze({
  maxTextChars: 16_000,
  /** body_version 2: the UTF-8 of maxTextChars code points at most, plus the 16-byte AEAD tag. */
  maxCiphertextBytes: 16_000 * 4 + 16,
  /** Members a body_version 2 post may declare as mentioned. */
  maxMentions: 100,
  maxHistoryPage: 200,
  defaultHistoryPage: 50,
  maxDescriptionChars: 500,
  maxKeyTopics: 50,
  /** An API-key holder counts as present for this long after its last request. */
  restPresenceMs: 5 * 60_000,
  maxSearchResults: 100,
  maxKeyTtlS: 365 * 24 * 3600,
  /** Keys minted with keys nest at most this deep below a key a member made (its depth is 0). */
  maxKeyDepth: 8,
});

// ---------------------------------------------------------------------------------------------
// Requests

export const CreateTopicBody = z.strictObject({
  name: TopicName,
  visibility: TopicVisibility.default('public'),
  description: freeText(0, TOPIC_LIMITS.maxDescriptionChars).default(''),
  /**
   * Fixed for the topic's life. Absent: `e2e` (docs/topics.md "Encryption"), or `plaintext` when the
   * creator is a REST-only human (it could not use an e2e topic); ask for `plaintext` for a topic
   * that curl and integrations post text to, which the broker can read.
   */
  encryption: TopicEncryption.optional(),
  /** e2e topics: whether members who join later get the earlier epochs' keys. Absent: `since_join`. Fixed for the topic's life. */
  history: TopicHistoryMode.optional(),
});

export const PostTopicMessageBody = z.strictObject({
  /** 1 (the default): text, for a plaintext topic. */
  body_version: z.literal(1).optional(),
  /** Stored and served verbatim (line breaks included): plaintext to the broker in body_version 1. */
  text: freeText(1, TOPIC_LIMITS.maxTextChars),
  reply_to: TopicMessageId.optional(),
  /** Idempotency: a retry with the same client id returns the stored message. */
  client_id: ClientId.optional(),
});

/**
 * A body_version 2 post to an e2e topic, as topic_send carries it (docs/protocol.md §5.2): sealed by
 * the key's member under the topic's current key epoch, `client_id` being the message id bound into
 * its associated data (so it is required), with the members it mentions declared by the sender.
 */
export const PostSealedTopicMessageBody = z.strictObject({
  body_version: z.literal(2),
  key_epoch: EpochNumber,
  nonce: BoxNonce,
  ciphertext: b64uBytes({ min: 17, max: TOPIC_LIMITS.maxCiphertextBytes }),
  sig: Signature,
  mentions: z.array(PubkeyHex).max(TOPIC_LIMITS.maxMentions).default([]),
  reply_to: TopicMessageId.optional(),
  client_id: ClientId,
});

/** `POST /api/v1/topics/:name/messages`: text (body_version 1, the default) or a sealed body_version 2. */
export const TopicPostBody = z.discriminatedUnion('body_version', [PostTopicMessageBody, PostSealedTopicMessageBody]);

/** `POST /api/v1/messages`: text, addressed by topic in the body. */
export const PostMessageBody = PostTopicMessageBody.extend({ topic: TopicName });

export const MarkReadBody = z.strictObject({
  /** Read up to this message; default the newest. */
  message_id: TopicMessageId.optional(),
});

export const AddTopicMemberBody = z.strictObject({ member: z.union([PubkeyHex, DisplayName]) });

export const HistoryQuery = z.strictObject({
  before: TopicMessageId.optional(),
  after: TopicCursor.optional(),
  limit: z.coerce.number().int().min(1).max(TOPIC_LIMITS.maxHistoryPage).default(TOPIC_LIMITS.defaultHistoryPage),
});

export const SearchQuery = z.strictObject({
  q: freeText(1, 200),
  topic: TopicName.optional(),
  limit: z.coerce.number().int().min(1).max(TOPIC_LIMITS.maxSearchResults).default(20),
});

export const NotificationsQuery = z.strictObject({
  unread: z.enum(['true', 'false', '1', '0']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const MarkNotificationsReadBody = z.strictObject({ ids: z.array(z.string().regex(/^[1-9][0-9]{0,18}$/)).min(1).max(500).optional() });

export const CreateApiKeyBody = z.strictObject({
  label: freeText(0, 100).default(''),
  capabilities: z.array(ApiKeyCapability).min(1).max(3).refine((c) => new Set(c).size === c.length, 'capabilities must not repeat'),
  /** Limit the key to these topics; absent = every topic its member may read. */
  topics: z.array(TopicName).min(1).max(TOPIC_LIMITS.maxKeyTopics).optional(),
  expires_in_s: z.number().int().min(10).max(TOPIC_LIMITS.maxKeyTtlS).optional(),
  /** Admin only: enrol a REST-only human member with this name and issue the key for it. */
  human: DisplayName.optional(),
});

// ---------------------------------------------------------------------------------------------
// Responses

export const Sender = z.object({ member_pubkey: PubkeyHex, display_name: DisplayName, peer_type: PeerType });

export const TopicMessage = z.object({
  id: TopicMessageId,
  topic: TopicName,
  client_id: z.string(),
  sender: Sender,
  reply_to: TopicMessageId.nullable(),
  /**
   * 1: `text` is plaintext. 2: `nonce`/`ciphertext`/`sig` under the key of epoch `key_epoch` of
   * scope `topic:<topic>`; a reader rebuilds the associated data from the mesh, that scope and
   * epoch, `sender.member_pubkey` and `client_id` (docs/crypto.md "Key epochs").
   */
  body_version: z.number().int().min(1),
  text: z.string().optional(),
  nonce: z.string().optional(),
  ciphertext: z.string().optional(),
  sig: z.string().optional(),
  key_epoch: z.number().int().optional(),
  mentions: z.array(PubkeyHex),
  created_at: EpochMs,
});

export const TopicInfo = z.object({
  name: TopicName,
  visibility: TopicVisibility,
  description: z.string(),
  encryption: TopicEncryption,
  /** Who joins later reads from its join (`since_join`) or the earlier epochs too (`shared`); `since_join` for plaintext topics. */
  history: TopicHistoryMode,
  created_at: EpochMs,
  members: z.number().int().nonnegative(),
  joined: z.boolean(),
  /** Messages above the caller's read mark (0 when not joined). */
  unread: z.number().int().nonnegative(),
  last_message_id: TopicMessageId.nullable(),
  last_message_at: EpochMs.nullable(),
});

export const MemberPresence = z.object({
  member_pubkey: PubkeyHex,
  display_name: DisplayName,
  role: MemberRole,
  peer_type: PeerType,
  online: z.boolean(),
  /** WebSocket sessions connected now; REST-only activity shows as `rest_active`. */
  sessions: z.number().int().nonnegative(),
  rest_active: z.boolean(),
  last_seen_at: EpochMs.nullable(),
  status: PeerStatus.nullable(),
  summary: z.string().nullable(),
  rest_only: z.boolean(),
});

export const TopicMember = z.object({ member_pubkey: PubkeyHex, display_name: DisplayName, peer_type: PeerType, joined_at: EpochMs, online: z.boolean() });

export const Notification = z.object({
  id: z.string(),
  kind: z.enum(['mention', 'reply']),
  topic: TopicName,
  message: TopicMessage,
  actor: Sender,
  created_at: EpochMs,
  read_at: EpochMs.nullable(),
});

export const ApiKeyInfo = z.object({
  id: z.string(),
  label: z.string(),
  member_pubkey: PubkeyHex,
  display_name: DisplayName,
  capabilities: z.array(ApiKeyCapability),
  topics: z.array(TopicName).nullable(),
  created_at: EpochMs,
  expires_at: EpochMs.nullable(),
  last_used_at: EpochMs.nullable(),
  revoked_at: EpochMs.nullable(),
});
/** Only the create response carries `secret`: it is shown once and stored only as a hash. */
export const CreatedApiKey = ApiKeyInfo.extend({ secret: z.string() });

export const MeInfo = z.object({
  mesh_id: Uuid,
  mesh_name: z.string(),
  /** `rest_only`: a human enrolled with an API key whose key is still the broker's placeholder (protocol §6.5; it may claim one). */
  member: z.object({ member_pubkey: PubkeyHex, display_name: DisplayName, role: MemberRole, peer_type: PeerType, rest_only: z.boolean() }),
  key: z.object({ id: z.string(), capabilities: z.array(ApiKeyCapability), topics: z.array(TopicName).nullable(), expires_at: EpochMs.nullable() }),
});

/**
 * POST /api/v1/me/identity: a REST-only human takes a keypair of its own in place of its placeholder
 * (protocol §6.5 "Claiming a key"); `sig` is by the new key over identityClaimString.
 */
export const ClaimIdentityBody = z.strictObject({ member_pubkey: PubkeyHex, sig: Signature });

/* One-time web sign-in links (docs/protocol.md §8.5, libs/core/src/web/web-signin.ts). */

/** HKDF-SHA256 of the link's code: what the broker files the sealed key under (32 bytes, base64url). */
export const WebSignInLookup = b64uBytes(32);
/** nonce (12) ‖ AES-256-GCM of the API key under the code's key: at least nonce and tag, at most a key of 200 bytes. */
export const WebSignInSealed = b64uBytes({ min: 28, max: 228 });
export const WEB_SIGNIN_LIMITS = Object.freeze({
  /** How long a link may stay open (s), and its default. */
  maxTtlS: 900,
  defaultTtlS: 600,
  /** Links a key may hold open at once; one more is E_RATE_LIMITED until one is used or expires. */
  maxOpenPerKey: 5,
});
/** POST /api/v1/web/signins (bearer: the key the link signs in with deposits its own sealed copy). */
export const CreateWebSignInBody = z.strictObject({
  lookup: WebSignInLookup,
  sealed: WebSignInSealed,
  expires_in_s: z.number().int().min(10).max(WEB_SIGNIN_LIMITS.maxTtlS).default(WEB_SIGNIN_LIMITS.defaultTtlS),
});
export const WebSignInCreated = z.object({ expires_at: EpochMs });
/** POST /api/v1/web/session (no credentials): the link's lookup, answered once. */
export const WebSessionBody = z.strictObject({ lookup: WebSignInLookup });
export const WebSessionSealed = z.object({ sealed: WebSignInSealed, mesh_id: Uuid });

/**
 * Web Push (docs/web.md "Web Push", docs/protocol.md §8.6): a browser's push subscription, stored per
 * API key. The broker sends it mentions and replies — never any message text.
 */
export const PUSH_LIMITS = Object.freeze({
  /** Subscriptions one API key may hold; one more (a new endpoint) is E_RATE_LIMITED. */
  maxPerKey: 5,
  maxEndpointChars: 2048,
});
export const PushKind = z.enum(['mention', 'reply']);
const LOOPBACK_HOST = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;
/** Whether an endpoint is one the broker may POST to: https, or http to a loopback host (tests). */
export function isPushEndpoint(s: string): boolean {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return false;
  }
  if (u.username || u.password || u.hash) return false;
  return u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK_HOST.test(u.hostname));
}
export const PushEndpoint = z
  .string()
  .min(1)
  .max(PUSH_LIMITS.maxEndpointChars)
  .refine(isPushEndpoint, 'expected the push service’s https URL (http only to a loopback host), without credentials or fragment');
/** POST /api/v1/me/push: `PushSubscription.toJSON()` of the browser, and which kinds to send (default both). */
export const PushSubscriptionBody = z.strictObject({
  endpoint: PushEndpoint,
  keys: z.strictObject({
    /** The subscription's P-256 public key, uncompressed (65 bytes). */
    p256dh: b64uBytes(65),
    /** Its 16-byte authentication secret. */
    auth: b64uBytes(16),
  }),
  /** The browser's JSON has it; the broker ignores it. */
  expirationTime: z.number().nullable().optional(),
  kinds: z.array(PushKind).min(1).max(2).transform((k) => [...new Set(k)].sort() as Array<z.output<typeof PushKind>>).optional(),
});
export const PushSubscriptionCreated = z.object({ id: z.string(), created_at: EpochMs });
/** DELETE /api/v1/me/push: one endpoint, or none = every subscription of the calling key. */
export const DeletePushBody = z.strictObject({ endpoint: z.string().min(1).max(PUSH_LIMITS.maxEndpointChars).optional() });
export const PushRemoved = z.object({ removed: z.number().int().nonnegative() });
/** GET /api/v1/web/push: the broker's VAPID key (base64url, an uncompressed P-256 point). */
export const WebPushInfo = z.object({ vapid_public_key: b64uBytes(65), enabled: z.boolean() });
/** What a push carries, encrypted to the subscription (RFC 8291): who, where — never the text. */
export const PushPayload = z.object({
  v: z.literal(1),
  kind: PushKind,
  mesh_id: Uuid,
  mesh_name: z.string(),
  topic: TopicName,
  actor: z.string(),
  message_id: TopicMessageId,
  url: z.string(),
});
export type PushPayload = z.output<typeof PushPayload>;

export type TopicName = z.infer<typeof TopicName>;
export type TopicMessage = z.output<typeof TopicMessage>;
export type TopicInfo = z.output<typeof TopicInfo>;
export type MemberPresence = z.output<typeof MemberPresence>;
export type TopicMember = z.output<typeof TopicMember>;
export type Notification = z.output<typeof Notification>;
export type ApiKeyInfo = z.output<typeof ApiKeyInfo>;
export type CreatedApiKey = z.output<typeof CreatedApiKey>;
export type MeInfo = z.output<typeof MeInfo>;
export type CreateWebSignInBody = z.input<typeof CreateWebSignInBody>;
export type ClaimIdentityBody = z.output<typeof ClaimIdentityBody>;
export type WebSessionSealed = z.output<typeof WebSessionSealed>;
export type CreateApiKeyBody = z.input<typeof CreateApiKeyBody>;
