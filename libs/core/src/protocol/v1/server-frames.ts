import { z } from 'zod';
import {
  BoxNonce,
  Capability,
  ClientId,
  DeliveryState,
  DisplayName,
  EpochMs,
  GroupName,
  MemberRole,
  MessageId,
  MessageKind,
  NonEmptyB64u,
  PeerStatus,
  PeerTag,
  PeerType,
  PubkeyHex,
  Signature,
  ReqId,
  StateKey,
  Uuid,
} from './primitives.js';
import { ERROR_CODE_LIST } from './errors.js';
import { TopicMessage, TopicName } from './api.js';
import { EpochDue, EpochNumber, EpochRotate, EpochScope, EpochsPage, StoredEpochManifest, StoredEpochSeal } from './epochs.js';

/** Frames the broker sends. Not strict: newer brokers may add fields that older clients ignore. */
export const ChallengeFrame = z.object({
  type: z.literal('challenge'),
  v: z.literal(1),
  nonce: NonEmptyB64u,
  server_time: EpochMs,
});

export const MemberInfo = z.object({
  member_pubkey: PubkeyHex,
  display_name: DisplayName,
  role: MemberRole,
  peer_type: PeerType,
});
export type MemberInfo = z.output<typeof MemberInfo>;

export const HelloAckFrame = z.object({
  type: z.literal('hello_ack'),
  v: z.literal(1),
  session_id: z.string().min(1),
  mesh_id: Uuid,
  member: MemberInfo,
  queued: z.number().int().nonnegative(),
  server_time: EpochMs,
  max_frame_bytes: z.number().int().positive(),
});

export const ErrorFrame = z.object({
  type: z.literal('error'),
  code: z.enum(ERROR_CODE_LIST as [string, ...string[]]),
  message: z.string(),
  /** The client id or req_id the error answers, when there is one. */
  ref: z.string().optional(),
  /** With E_RATE_LIMITED: how long to wait before sending the refused frame again. */
  retry_after_ms: z.number().int().nonnegative().optional(),
  /** With E_EPOCH_CONFLICT, E_EPOCH_STALE and E_EPOCH_REQUIRED: the scope's current epoch (0 when it has none). */
  current_epoch: z.number().int().nonnegative().optional(),
  /** With E_EPOCH_STALE only: the current epoch lists the wrong members; rotate, then send again (§5.6). */
  rotate: EpochRotate.optional(),
});

export const AckFrame = z.object({
  type: z.literal('ack'),
  id: ClientId,
  message_id: MessageId,
  recipients: z.number().int().nonnegative(),
  duplicate: z.boolean(),
  accepted_at: EpochMs,
  /** Recipient members (`@group`, `*`) whose offline queue was full: they got no copy (§7.5). */
  queue_full: z.array(PubkeyHex).optional(),
  /** A body_version 2 message stored near the mesh epoch's scheduled rotation: rotate ahead of it (§5.6). */
  epoch_due: EpochDue.optional(),
});

export const PushFrame = z.object({
  type: z.literal('push'),
  message_id: MessageId,
  client_id: ClientId,
  kind: MessageKind,
  from: z.object({ member_pubkey: PubkeyHex, session_pubkey: PubkeyHex, display_name: DisplayName }),
  /** The recipient member pubkey for a DM, `@group`, or `*`. */
  to: z.string(),
  nonce: BoxNonce,
  ciphertext: NonEmptyB64u,
  sent_at: EpochMs,
  /** Both present for a body_version 2 `@group` / `*` message: its mesh-scope epoch and the sender's signature. */
  key_epoch: EpochNumber.optional(),
  sig: Signature.optional(),
});

export const ReceiptEntry = z.object({
  message_id: MessageId,
  client_id: ClientId,
  recipient: PubkeyHex,
  state: z.enum(['delivered', 'read']),
  at: EpochMs,
});

/** The state advances of one commit for one sender, in one frame. */
export const ReceiptFrame = z.object({
  type: z.literal('receipt'),
  receipts: z.array(ReceiptEntry).min(1).max(5_000),
});

export const SessionInfo = z.object({
  session_pubkey: PubkeyHex,
  peer_type: PeerType,
  status: PeerStatus,
  summary: z.string(),
  /** What the session advertises for tag routing (§5.7); absent from brokers before it. */
  tags: z.array(PeerTag).optional(),
  connected_at: EpochMs,
});

export const PeerInfo = MemberInfo.extend({
  online: z.boolean(),
  groups: z.array(GroupName),
  sessions: z.array(SessionInfo),
  /** Present and true when the member used an API key in the last 5 minutes (REST/SSE presence). */
  rest_active: z.boolean().optional(),
  /**
   * Present and true for a REST-only human (docs/protocol.md §6.1): its key is a placeholder whose
   * secret nobody holds, so a client never encrypts to it and the broker refuses DMs to it.
   */
  rest_only: z.boolean().optional(),
});

export const PeersFrame = z.object({ type: z.literal('peers'), req_id: ReqId, peers: z.array(PeerInfo) });
export const OkFrame = z.object({ type: z.literal('ok'), req_id: ReqId });

export const RecipientStatus = z.object({
  member_pubkey: PubkeyHex,
  display_name: DisplayName,
  state: DeliveryState,
  delivered_at: EpochMs.nullable(),
  read_at: EpochMs.nullable(),
});

export const MessageStatusResultFrame = z.object({
  type: z.literal('message_status_result'),
  req_id: ReqId,
  messages: z.array(
    z.object({
      message_id: MessageId,
      client_id: ClientId,
      kind: MessageKind,
      to: z.string(),
      sent_at: EpochMs,
      recipients: z.array(RecipientStatus),
    }),
  ),
});

/** One peer's grant row, as the granting member set it. */
export const GrantEntry = z.object({
  peer: PubkeyHex,
  display_name: DisplayName,
  capabilities: z.array(Capability),
  blocked: z.boolean(),
  updated_at: EpochMs,
});
/** Answers set_grants (the one row written) and list_grants (every row differing from the defaults). */
export const GrantsFrame = z.object({ type: z.literal('grants'), req_id: ReqId, grants: z.array(GrantEntry) });

export const StateEntry = z.object({
  owner: PubkeyHex,
  key: StateKey,
  version: z.number().int().min(1),
  nonce: BoxNonce,
  ciphertext: NonEmptyB64u,
  updated_by: PubkeyHex,
  updated_at: EpochMs,
});
/** Answers state_set (the entry written) and state_get (what matched and the sender may read). */
export const StateFrame = z.object({ type: z.literal('state'), req_id: ReqId, entries: z.array(StateEntry) });

/** Answers topic_send after the commit; a retry of the same id gets the stored message with `duplicate: true`. */
export const TopicAckFrame = z.object({
  type: z.literal('topic_ack'), id: ClientId, topic: TopicName, message: TopicMessage, duplicate: z.boolean(),
  /** A sealed post stored near its epoch's scheduled rotation: rotate ahead of it (§5.6). */
  epoch_due: EpochDue.optional(),
});
/** A topic message committed by another member, pushed to each live session of the topic's members. */
export const TopicMessageFrame = z.object({ type: z.literal('topic_message'), topic: TopicName, message: TopicMessage });
/** Answers topic_history: oldest first, as REST `GET /topics/:name/messages`. */
export const TopicMessagesFrame = z.object({ type: z.literal('topic_messages'), req_id: ReqId, topic: TopicName, messages: z.array(TopicMessage), has_more: z.boolean() });

/** Answers epoch_publish once the manifest and its seals are committed. */
export const EpochAckFrame = z.object({ type: z.literal('epoch_ack'), req_id: ReqId, scope: EpochScope, epoch: EpochNumber, manifest_hash: NonEmptyB64u });
/**
 * Answers epoch_get: manifests in epoch order (the client verifies the chain itself), the seals
 * addressed to the sender for those epochs, and, for a sender listed in the current epoch, which of
 * its members have no seal yet (`missing`), so a holder of the key can seal for them (epoch_seal).
 */
export const EpochsFrame = EpochsPage.extend({ type: z.literal('epochs'), req_id: ReqId });
/** A new epoch, pushed to the live sessions of the members it lists, each with its own seal when the publisher sent one. */
export const EpochNewFrame = z.object({ type: z.literal('epoch_new'), scope: EpochScope, epoch: EpochNumber, manifest: StoredEpochManifest, seal: StoredEpochSeal.optional() });
/** A seal stored after its epoch (epoch_seal), pushed to its recipient's live sessions. */
export const EpochSealNewFrame = z.object({ type: z.literal('epoch_seal_new'), scope: EpochScope, seal: StoredEpochSeal });

export const SERVER_FRAME_SCHEMAS = {
  challenge: ChallengeFrame,
  hello_ack: HelloAckFrame,
  error: ErrorFrame,
  ack: AckFrame,
  push: PushFrame,
  receipt: ReceiptFrame,
  peers: PeersFrame,
  ok: OkFrame,
  message_status_result: MessageStatusResultFrame,
  grants: GrantsFrame,
  state: StateFrame,
  topic_ack: TopicAckFrame,
  topic_message: TopicMessageFrame,
  topic_messages: TopicMessagesFrame,
  epoch_ack: EpochAckFrame,
  epochs: EpochsFrame,
  epoch_new: EpochNewFrame,
  epoch_seal_new: EpochSealNewFrame,
} as const;

export type ServerFrameType = keyof typeof SERVER_FRAME_SCHEMAS;
export type ServerFrameMap = { [K in ServerFrameType]: z.output<(typeof SERVER_FRAME_SCHEMAS)[K]> };
export type ServerFrame = ServerFrameMap[ServerFrameType];
export type PeerInfo = z.output<typeof PeerInfo>;
export type PushFrame = ServerFrameMap['push'];
export type ReceiptEntry = z.output<typeof ReceiptEntry>;
export type GrantEntry = z.output<typeof GrantEntry>;
export type StateEntry = z.output<typeof StateEntry>;
export type TopicMessageFrame = ServerFrameMap['topic_message'];
