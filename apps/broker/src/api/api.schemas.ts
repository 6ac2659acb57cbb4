import {
  AddEpochSealsBody, AddTopicMemberBody, ApiKeyInfo, EpochAck, EpochDue, EpochRotate, EpochSealsAdded, EpochsPage, CreateApiKeyBody, CreatedApiKey, CreateTopicBody, ERROR_CODE_LIST, HistoryQuery, MarkNotificationsReadBody, MarkReadBody,
  MeInfo, MemberPresence, Notification, PeerTag, PostMessageBody, PostSealedTopicMessageBody, PostTopicMessageBody, PublishEpochBody, Sender, TopicInfo, TopicMember,
  TopicMessage, TopicName, TopicPostBody, CreateWebSignInBody, WebSignInCreated, ClaimIdentityBody,
  PushSubscriptionBody, PushSubscriptionCreated, DeletePushBody, PushRemoved, WebPushInfo, MeshAnalytics,
} from '@claudemesh/core';
import { z } from 'zod';

/**
 * The schemas of the REST `/api/v1` bearer surface as the OpenAPI document names them. Requests and
 * responses come from libs/core (api.ts); the few response envelopes and queries api.ts has no
 * name for are composed here from its parts. The same objects validate requests (WireSchemaPipe)
 * and become the document's components, so the two cannot drift.
 */

export const HistoryPage = z.object({ messages: z.array(TopicMessage), has_more: z.boolean() });
/** `epoch_due`: a sealed post stored near its epoch's scheduled rotation (docs/protocol.md §5.6): rotate ahead of it. */
export const PostedMessage = z.object({ message: TopicMessage, duplicate: z.boolean(), epoch_due: EpochDue.optional() });
export const ReadMark = z.object({ topic: TopicName, last_read_id: z.string().regex(/^(0|[1-9][0-9]{0,18})$/), unread: z.number().int().nonnegative() });
export const LeftTopic = z.object({ left: z.boolean() });
export const MarkedNotifications = z.object({ marked: z.number().int().nonnegative() });
export const ErrorBody = z.object({
  error: z.object({
    code: z.enum(ERROR_CODE_LIST as [string, ...string[]]),
    message: z.string(),
    /** Set with E_RATE_LIMITED when waiting helps; the `Retry-After` header says the same in seconds. */
    retry_after_ms: z.number().int().nonnegative().optional(),
    /** With E_EPOCH_CONFLICT and E_EPOCH_STALE: the scope's current epoch (docs/protocol.md §5.6). */
    current_epoch: z.number().int().nonnegative().optional(),
    /** With E_EPOCH_STALE: the current epoch lists the wrong members; rotate, then send again. */
    rotate: EpochRotate.optional(),
  }),
});

/** `GET /messages`: the history query, addressed by topic. */
export const MessagesQuery = HistoryQuery.extend({ topic: TopicName });
export const ActivityQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50) });
/** `GET /members?tag=`: only members with a live session advertising the tag (docs/protocol.md §5.7). */
export const MembersQuery = z.strictObject({ tag: PeerTag.optional() });
export const ApiKeyId = z.string().regex(/^[a-z0-9]{16}$/, 'expected the 16-char id of an API key (cmk_<id>_…)');

/** Named components of the document; anything not listed here is inlined where it is used. */
export const API_SCHEMAS = z.registry<{ id: string; description?: string }>();
const named: Array<[z.ZodType, string, string?]> = [
  [CreateTopicBody, 'CreateTopicBody'],
  [TopicPostBody, 'TopicPostBody', 'body_version 1 text for a plaintext topic, or a sealed body_version 2 for an e2e topic'],
  [PostTopicMessageBody, 'PostTopicMessageBody', 'body_version 1: text, plaintext to the broker'],
  [PostSealedTopicMessageBody, 'PostSealedTopicMessageBody', 'body_version 2: sealed under the topic’s current key epoch and signed by the key’s member (docs/crypto.md "Key epochs")'],
  [PostMessageBody, 'PostMessageBody', 'PostTopicMessageBody addressed by topic in the body'],
  [MarkReadBody, 'MarkReadBody'],
  [AddTopicMemberBody, 'AddTopicMemberBody', 'a member of the mesh by public key or display name'],
  [MarkNotificationsReadBody, 'MarkNotificationsReadBody', 'the notification ids to mark read; none = all'],
  [CreateApiKeyBody, 'CreateApiKeyBody'],
  [Sender, 'Sender'],
  [TopicMessage, 'TopicMessage', 'body_version 1: `text` is plaintext to the broker'],
  [TopicInfo, 'TopicInfo'],
  [TopicMember, 'TopicMember'],
  [MemberPresence, 'MemberPresence', 'a member with its WebSocket sessions and REST presence'],
  [Notification, 'Notification'],
  [ApiKeyInfo, 'ApiKeyInfo'],
  [CreatedApiKey, 'CreatedApiKey', 'the only response that carries the secret: keep it, it is shown once'],
  [MeInfo, 'MeInfo'],
  [HistoryPage, 'HistoryPage'],
  [PostedMessage, 'PostedMessage'],
  [ReadMark, 'ReadMark'],
  [LeftTopic, 'LeftTopic'],
  [MarkedNotifications, 'MarkedNotifications'],
  [EpochsPage, 'EpochsPage', 'key epochs of a scope: signed manifests in order, the caller’s seals, the members without one (docs/protocol.md §5.6)'],
  [PublishEpochBody, 'PublishEpochBody', 'epoch_publish without type and req_id: a signed manifest and its creator’s seals'],
  [AddEpochSealsBody, 'AddEpochSealsBody', 'epoch_seal’s seals; the scope and epoch are in the path'],
  [EpochAck, 'EpochAck', 'as epoch_ack: the accepted epoch and its manifest hash'],
  [EpochSealsAdded, 'EpochSealsAdded'],
  [ClaimIdentityBody, 'ClaimIdentityBody', 'a REST-only human’s own key, signed by itself over the identity-claim string (docs/protocol.md §6.5)'],
  [CreateWebSignInBody, 'CreateWebSignInBody', 'the calling key sealed under a one-time code the broker never sees (docs/protocol.md §8.5)'],
  [WebSignInCreated, 'WebSignInCreated'],
  [PushSubscriptionBody, 'PushSubscriptionBody', 'a browser’s PushSubscription JSON (docs/protocol.md §8.6): an https endpoint, its P-256 key and auth secret; `kinds` defaults to both'],
  [PushSubscriptionCreated, 'PushSubscriptionCreated'],
  [DeletePushBody, 'DeletePushBody', 'the endpoint to delete; none = every subscription of the calling key'],
  [PushRemoved, 'PushRemoved'],
  [WebPushInfo, 'WebPushInfo', 'the broker’s VAPID public key (base64url, uncompressed P-256) and whether it sends pushes'],
  [MeshAnalytics, 'MeshAnalytics', 'per-mesh analytics from metadata only (docs/protocol.md §8.7)'],
  [ErrorBody, 'Error', 'every failure: a stable code (docs/protocol.md §10) and a message saying what to do'],
];
for (const [schema, id, description] of named) API_SCHEMAS.add(schema, description ? { id, description } : { id });
