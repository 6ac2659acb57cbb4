import { z } from 'zod';
import {
  BoxNonce,
  Capability,
  ClientId,
  EpochMs,
  GroupName,
  LIMITS,
  b64uBytes,
  freeText,
  MessageId,
  NonEmptyB64u,
  PeerStatus,
  PeerTag,
  PeerType,
  PubkeyHex,
  ReceiptPolicy,
  ReqId,
  Signature,
  StateKey,
  Target,
  Uuid,
} from './primitives.js';
import { PostTopicMessageBody, TOPIC_LIMITS, TopicCursor, TopicMessageId, TopicName } from './api.js';
import { EpochNumber, EpochScope, EpochSeals, SignedEpochManifestSchema } from './epochs.js';

/** Frames a peer sends to the broker. Strict: unknown keys are a schema violation. */
export const HelloFrame = z.strictObject({
  type: z.literal('hello'),
  v: z.literal(1),
  mesh_id: Uuid,
  member_pubkey: PubkeyHex,
  session_pubkey: PubkeyHex,
  /** Member key's attestation of the session key (see session string in docs/protocol.md). */
  session_expires_at: EpochMs,
  session_sig: Signature,
  /** The challenge nonce this connection received. */
  nonce: NonEmptyB64u.max(128),
  ts: EpochMs,
  /** Session key's signature over the hello string. */
  sig: Signature,
  peer_type: PeerType.default('ai'),
  client: freeText(0, 128).optional(),
});

export const SendFrame = z.strictObject({
  type: z.literal('send'),
  id: ClientId,
  to: Target,
  nonce: BoxNonce,
  /** At least the 16-byte MAC; at most maxCiphertextBytes, so a send always fits the frame limit. */
  ciphertext: b64uBytes({ min: 16, max: LIMITS.maxCiphertextBytes }),
  /** Which state advances the sender wants pushed; default `all` for a DM, `none` for `@group` and `*`. */
  receipts: ReceiptPolicy.optional(),
  /**
   * 1 (the default): a DM under box, or `@group` / `*` under the mesh key. 2: `@group` or `*` under
   * the mesh scope's key epoch `key_epoch` (XChaCha20-Poly1305), signed by the sender (`sig`).
   */
  body_version: z.union([z.literal(1), z.literal(2)]).optional(),
  key_epoch: EpochNumber.optional(),
  sig: Signature.optional(),
}).refine(
  (f) => (f.body_version ?? 1) === 1
    ? f.key_epoch === undefined && f.sig === undefined
    : f.key_epoch !== undefined && f.sig !== undefined && (f.to === '*' || f.to.startsWith('@')),
  'body_version 1 carries no key_epoch or sig; body_version 2 is for @group and * only and carries key_epoch and sig',
);

const MessageIds = z.array(MessageId).min(1).max(LIMITS.maxIdsPerFrame);

export const DeliveredFrame = z.strictObject({ type: z.literal('delivered'), message_ids: MessageIds });
export const ReadFrame = z.strictObject({ type: z.literal('read'), message_ids: MessageIds });
export const ListPeersFrame = z.strictObject({ type: z.literal('list_peers'), req_id: ReqId });
export const SetSummaryFrame = z.strictObject({
  type: z.literal('set_summary'),
  req_id: ReqId.optional(),
  summary: freeText(0, LIMITS.maxSummaryChars),
});
/** The tags this session advertises (§5.7): the whole set, replacing what it had. */
export const SetTagsFrame = z.strictObject({
  type: z.literal('set_tags'),
  req_id: ReqId.optional(),
  tags: z.array(PeerTag).max(LIMITS.maxTagsPerSession).refine((t) => new Set(t).size === t.length, 'each tag once'),
});
export const SetStatusFrame = z.strictObject({
  type: z.literal('set_status'),
  req_id: ReqId.optional(),
  status: PeerStatus,
});
export const JoinGroupFrame = z.strictObject({ type: z.literal('join_group'), req_id: ReqId.optional(), group: GroupName });
export const LeaveGroupFrame = z.strictObject({ type: z.literal('leave_group'), req_id: ReqId.optional(), group: GroupName });
export const MessageStatusFrame = z
  .strictObject({
    type: z.literal('message_status'),
    req_id: ReqId,
    message_ids: MessageIds.optional(),
    client_ids: z.array(ClientId).min(1).max(LIMITS.maxIdsPerFrame).optional(),
  })
  .refine((f) => (f.message_ids === undefined) !== (f.client_ids === undefined), 'give exactly one of message_ids, client_ids');

/** Sets, in full, what `peer` (a member pubkey) may do to the sender's member. */
export const SetGrantsFrame = z.strictObject({
  type: z.literal('set_grants'),
  req_id: ReqId,
  peer: PubkeyHex,
  capabilities: z.array(Capability).max(16).refine((c) => new Set(c).size === c.length, 'capabilities must not repeat'),
  blocked: z.boolean(),
});
export const ListGrantsFrame = z.strictObject({ type: z.literal('list_grants'), req_id: ReqId });
/**
 * Writes one shared-state value, sealed by the client under the mesh state key (docs/protocol.md
 * §6.4). `version` is the version this write creates: 1 for a new key, current + 1 otherwise.
 */
export const StateSetFrame = z.strictObject({
  type: z.literal('state_set'),
  req_id: ReqId,
  /** The member whose namespace holds the key; default the sender's own. */
  owner: PubkeyHex.optional(),
  key: StateKey,
  version: z.number().int().min(1).max(2 ** 31 - 1),
  nonce: BoxNonce,
  ciphertext: b64uBytes({ min: 16, max: LIMITS.maxStateValueBytes + 16 }),
});
/** Reads shared state: one key, one owner's keys, or every key the sender may read. */
export const StateGetFrame = z.strictObject({
  type: z.literal('state_get'),
  req_id: ReqId,
  owner: PubkeyHex.optional(),
  key: StateKey.optional(),
});

/**
 * Posts a topic message (docs/topics.md); idempotent by `id` per sender member, like `send`. A
 * plaintext topic takes `text` (body_version 1); an e2e topic takes body_version 2: the sealed
 * form made with the epoch key (`id` is the message id bound into its associated data) and the
 * members it mentions, declared by the sender because the broker cannot read the text.
 */
export const TopicSendFrame = z
  .strictObject({
    type: z.literal('topic_send'),
    id: ClientId,
    topic: TopicName,
    text: PostTopicMessageBody.shape.text.optional(),
    reply_to: TopicMessageId.optional(),
    body_version: z.union([z.literal(1), z.literal(2)]).optional(),
    key_epoch: EpochNumber.optional(),
    nonce: BoxNonce.optional(),
    ciphertext: b64uBytes({ min: 17, max: TOPIC_LIMITS.maxCiphertextBytes }).optional(),
    sig: Signature.optional(),
    mentions: z.array(PubkeyHex).max(TOPIC_LIMITS.maxMentions).optional(),
  })
  .refine(
    (f) => (f.body_version ?? 1) === 1
      ? f.text !== undefined && f.key_epoch === undefined && f.nonce === undefined && f.ciphertext === undefined && f.sig === undefined && f.mentions === undefined
      : f.text === undefined && f.key_epoch !== undefined && f.nonce !== undefined && f.ciphertext !== undefined && f.sig !== undefined,
    'body_version 1 carries text only; body_version 2 carries key_epoch, nonce, ciphertext, sig (and mentions), never text',
  );
/** A page of a topic's history: the catch-up after a reconnect is `after` the last id seen. */
export const TopicHistoryFrame = z
  .strictObject({
    type: z.literal('topic_history'),
    req_id: ReqId,
    topic: TopicName,
    before: TopicMessageId.optional(),
    after: TopicCursor.optional(),
    limit: z.number().int().min(1).max(TOPIC_LIMITS.maxHistoryPage).optional(),
  })
  .refine((f) => f.before === undefined || f.after === undefined, 'give at most one of before, after');

/**
 * Publishes the next epoch of a scope (docs/protocol.md §5.6): accepted only on top of the current
 * epoch (compare-and-set), with the creator's seals for some or all of its members.
 */
export const EpochPublishFrame = z.strictObject({
  type: z.literal('epoch_publish'),
  req_id: ReqId,
  manifest: SignedEpochManifestSchema,
  seals: EpochSeals,
});
/** Manifests of a scope in order (after `after_epoch`), and the seals addressed to the sender. */
export const EpochGetFrame = z.strictObject({
  type: z.literal('epoch_get'),
  req_id: ReqId,
  scope: EpochScope,
  after_epoch: z.number().int().min(0).max(2 ** 31 - 1).optional(),
});
/** Seals of an existing epoch, by a member of it that holds the key, for members that lack theirs. */
export const EpochSealFrame = z.strictObject({
  type: z.literal('epoch_seal'),
  req_id: ReqId,
  scope: EpochScope,
  epoch: EpochNumber,
  /** May be empty (answered `ok` once the epoch is found), like the seals of epoch_publish. */
  seals: EpochSeals,
});

export const CLIENT_FRAME_SCHEMAS = {
  hello: HelloFrame,
  send: SendFrame,
  delivered: DeliveredFrame,
  read: ReadFrame,
  list_peers: ListPeersFrame,
  set_summary: SetSummaryFrame,
  set_tags: SetTagsFrame,
  set_status: SetStatusFrame,
  join_group: JoinGroupFrame,
  leave_group: LeaveGroupFrame,
  message_status: MessageStatusFrame,
  set_grants: SetGrantsFrame,
  list_grants: ListGrantsFrame,
  state_set: StateSetFrame,
  state_get: StateGetFrame,
  topic_send: TopicSendFrame,
  topic_history: TopicHistoryFrame,
  epoch_publish: EpochPublishFrame,
  epoch_get: EpochGetFrame,
  epoch_seal: EpochSealFrame,
} as const;

export type ClientFrameType = keyof typeof CLIENT_FRAME_SCHEMAS;
export type ClientFrameMap = { [K in ClientFrameType]: z.output<(typeof CLIENT_FRAME_SCHEMAS)[K]> };
export type ClientFrameInput = { [K in ClientFrameType]: z.input<(typeof CLIENT_FRAME_SCHEMAS)[K]> };
export type ClientFrame = ClientFrameMap[ClientFrameType];
export type HelloFrame = ClientFrameMap['hello'];
export type SendFrame = ClientFrameMap['send'];
