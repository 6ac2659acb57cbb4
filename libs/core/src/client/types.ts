import type { Identity } from '@claudemesh/crypto';
import type { MessageKind, PeerType } from '../protocol/v1/primitives.js';
import type { ServerFrameMap } from '../protocol/v1/server-frames.js';
import type { TopicMessage } from '../protocol/v1/api.js';
import type { EpochKeyring } from './epoch-keyring.js';
import type { MeshClient } from './mesh-client.js';

export interface MeshClientOptions {
  /** Broker WebSocket URL, e.g. ws://127.0.0.1:7900/ws */
  url: string;
  meshId: string;
  /** The member identity (its key opens DMs). */
  identity: Identity;
  /** The mesh key: seals `@group` and `*` messages while the mesh has no key epoch, and opens those (history). */
  meshKey?: Uint8Array;
  /**
   * The member's key epochs: with it, `@group` and `*` messages are sent under the mesh scope's
   * current epoch (body_version 2; created by an owner or admin, rotated when members change) and
   * body_version 2 pushes are opened (docs/protocol.md §5.2 `send`). A function loads it once
   * connected (it may ask the broker, e.g. for the member list its authorities come from), at the
   * first send or push that needs it.
   */
  keyring?: EpochKeyring | ((client: MeshClient) => Promise<EpochKeyring>);
  /** Runs after the keyring learned or made an epoch, so the application can persist it. */
  onKeyringChange?: () => void;
  peerType?: PeerType;
  /** Lifetime of the per-connection session attestation. */
  sessionTtlMs?: number;
  /** Reconnect automatically after an unexpected close (default true). */
  reconnect?: boolean;
  backoff?: { initialMs: number; maxMs: number };
  /** Give up on one connection attempt (TCP, TLS and the HTTP upgrade) after this long (default 10 000 ms). */
  connectTimeoutMs?: number;
  /** Resend an unacked send after this long while connected (same client id). */
  resendAfterMs?: number;
  /** Confirm receipt of pushes automatically (default true). */
  autoDelivered?: boolean;
  clientName?: string;
  /**
   * The member a session key spoke for, from the application's own history (a local inbox): a DM
   * addressed to a session key that has since rotated is then still encrypted for its member.
   */
  sessionMember?: (sessionPubkey: string) => string | null | undefined;
  /**
   * The client's own copy of its grants (docs/protocol.md §5.5): a push for which this returns
   * false is confirmed `delivered` and dropped, never emitted — a second line behind the broker's.
   */
  accept?: (push: { kind: MessageKind; fromMember: string }) => boolean;
}

/** A shared-state value as the SDK returns it: opened and checked against its slot. */
export interface StateValue {
  owner: string;
  key: string;
  version: number;
  value: Uint8Array;
  text: string;
  updatedBy: string;
  updatedAt: number;
}

export interface InboundMessage {
  messageId: string;
  clientId: string;
  kind: MessageKind;
  from: { memberPubkey: string; sessionPubkey: string; displayName: string };
  to: string;
  body: Uint8Array;
  text: string;
  sentAt: number;
  /** A body_version 2 `@group` / `*` message: the mesh-scope epoch it was sealed under (absent: the mesh key, or a DM). */
  keyEpoch?: number;
}

export type Ack = ServerFrameMap['ack'];
/** One state advance of a message this client sent. */
export type Receipt = ServerFrameMap['receipt']['receipts'][number];
export type HelloAck = ServerFrameMap['hello_ack'];
export type MessageStatus = ServerFrameMap['message_status_result']['messages'][number];

/**
 * A key-epoch push: a new epoch of a scope this member is listed in (`manifest`, with this member's
 * seal when the creator sent one), or a seal made for it later (`seal` alone). Verify before use.
 */
export interface EpochEvent {
  scope: string;
  epoch: number;
  manifest?: ServerFrameMap['epoch_new']['manifest'];
  seal?: ServerFrameMap['epoch_seal_new']['seal'];
}

export interface MeshClientEvents {
  message: [InboundMessage];
  /** A topic message posted by another member (live, or read back from the history after a reconnect). */
  topic: [TopicMessage];
  receipt: [Receipt];
  epoch: [EpochEvent];
  connected: [HelloAck];
  /**
   * Every push of the offline queue `hello_ack` announced (`queued`) has been handled by the
   * 'message' listeners on this connection: what waited at the broker is now with the application.
   */
  drained: [{ queued: number }];
  disconnected: [{ code: number; reason: string }];
  /** A connection attempt failed before the hello (refused, DNS, TLS, timeout); a reconnecting client tries again. */
  connect_failed: [Error];
  /**
   * A push that did not open. `reason` 'does_not_verify': not signed by its sender for its target,
   * epoch and id (forged or re-labelled); 'waiting_for_key': its epoch's key has not reached this
   * member; 'does_not_open': anything else (no key, bad ciphertext).
   */
  decrypt_error: [{ messageId: string; from: string; error: Error; reason: 'does_not_verify' | 'waiting_for_key' | 'does_not_open' }];
  /** A push the `accept` option refused (already confirmed to the broker). */
  dropped: [{ messageId: string; from: string; kind: MessageKind }];
  error: [Error];
}
