import { isCryptoError, topicScope } from '@claudemesh/crypto';
import type { TopicMessage } from '../protocol/v1/api.js';
import { ProtocolError } from '../protocol/v1/errors.js';
import { newClientId } from './client-id.js';
import { EpochKeyError, type EpochKeyring } from './epoch-keyring.js';
import { ensureFirstEpoch, rotateAhead, syncAfterStale, syncEpochs, syncHistory, type EpochTransport } from './epoch-sync.js';
import { sealedSendSlot, type SendSlot } from './send-window.js';
import type { MeshApi, TopicPostResult } from './api-client.js';
import type { MeshClient } from './mesh-client.js';
import type { SealedTopicBody } from './topic-client.js';

/**
 * What sending to an e2e topic needs of a client: its epochs and a sealed post. MeshClient
 * (topic_send over the WebSocket) and MeshApi (POST /topics/:name/messages with a keypair-holding
 * key's member) both have it: topicSendEncrypted and openTopicMessages take either.
 */
export interface SealedTopicTransport extends EpochTransport {
  topicSendSealed(topic: string, id: string, body: SealedTopicBody, options?: { replyTo?: string }): Promise<TopicPostResult>;
}

/**
 * End-to-end encrypted topics (docs/topics.md "Encryption"), the SDK's low-level half: sealing a
 * post under the topic's current key epoch and opening what arrives. The broker checks what is
 * public (epoch, listing, signature); only members holding the epoch key read the text.
 */

/** Why an e2e message shows no text: its epoch's key has not reached this member yet. */
export const WAITING_FOR_KEY = 'waiting for a key from a member';

/** A topic message as a reader sees it: `text` null when it cannot be opened, with the reason. */
export type OpenedTopicMessage = Omit<TopicMessage, 'text'> & { text: string | null; reason?: string };

/** Stale-epoch refusals under one epoch followed before giving up (each means a member rotated meanwhile). */
const MAX_STALE_RETRIES = 4;
/** Newer epochs a post may be refused under, one after another, before giving up. */
const MAX_EPOCHS_CROSSED = 64;

export interface EncryptedSendOptions {
  replyTo?: string;
  /** Members (keys) the text mentions: the broker cannot read it, so the sender declares them. */
  mentions?: readonly string[];
  /**
   * The client id to post under (8–64 url-safe characters), for a sender that must be idempotent
   * across restarts (a bridge derives it from the message it forwards). Kept across stale-epoch
   * retries: a refused post was not stored. Default: a fresh id.
   */
  id?: string;
  /**
   * Who epoch 1 lists when the topic has none yet: for a public topic the mesh's members that
   * hold keys (meshMembersWithKeys), for a private topic its members. Asked only when needed.
   */
  members: () => Promise<readonly string[]>;
}

/**
 * The members of a mesh that can receive a key: every member (listPeers over the WebSocket, GET
 * /members over REST) except REST-only humans, whose key is a placeholder nobody holds. What epoch 1
 * of a public topic lists. (A topic-scoped API key sees only its topics' members.)
 */
export async function meshMembersWithKeys(client: MeshClient | MeshApi): Promise<string[]> {
  const members = 'listPeers' in client ? await client.listPeers() : await client.members();
  return members.filter((p) => p.rest_only !== true).map((p) => p.member_pubkey);
}

/**
 * Seals `text` under the topic's current epoch and posts it. Syncs the keyring first when it holds
 * no epoch of the topic, creates epoch 1 (publishRotation) when the broker has none, and on
 * E_EPOCH_STALE syncs to the epoch the broker names and seals again under a fresh message id
 * (a refused post was not stored, so nothing is duplicated). When the ack says the epoch nears its
 * scheduled rotation (`epoch_due`), starts that rotation in the background (rotateAhead).
 */
export async function topicSendEncrypted(client: SealedTopicTransport, ring: EpochKeyring, topic: string, text: string, o: EncryptedSendOptions): Promise<TopicMessage> {
  const scope = topicScope(topic);
  // At most SEALED_SEND_WINDOW of this keyring's posts to the topic in flight: sealed once a place is free.
  const slot = await sealedSendSlot(ring, scope);
  try {
    return await sendSealedPost(client, ring, topic, scope, text, o, slot);
  } finally {
    slot.release();
  }
}

async function sendSealedPost(client: SealedTopicTransport, ring: EpochKeyring, topic: string, scope: string, text: string, o: EncryptedSendOptions, slot: SendSlot): Promise<TopicMessage> {
  if (ring.currentEpoch(scope) === 0) await syncEpochs(client, ring, scope);
  // Refusals count against the limit only while the topic's epoch stands still: with many posts in
  // flight an epoch can fill up (scheduled rotation) before a post gets through, and each refusal
  // under a newer epoch is progress, not a loop. MAX_EPOCHS_CROSSED bounds it all the same.
  let lastRefused = -1;
  let crossed = 0;
  for (let attempt = 0; ; attempt++) {
    if (ring.currentEpoch(scope) === 0) await ensureFirstEpoch(client, ring, scope, o.members);
    // Not under an epoch this client is replacing right now (the broker would refuse it once the new
    // one is in), nor past the room its epoch has left while the next one is being made.
    await slot.ready();
    const id = o.id ?? newClientId();
    const { epoch, message } = ring.encrypt(scope, id, text);
    slot.sealed(epoch);
    let posted: TopicPostResult;
    try {
      posted = await client.topicSendSealed(topic, id, { key_epoch: epoch, ...message, mentions: [...(o.mentions ?? [])] }, o.replyTo !== undefined ? { replyTo: o.replyTo } : {});
    } catch (error) {
      slot.answered();
      if (!(error instanceof ProtocolError && error.code === 'E_EPOCH_STALE')) throw error;
      const current = error.details.current_epoch ?? 0;
      if (current > lastRefused) {
        lastRefused = current;
        attempt = 0;
        crossed += 1;
      }
      if (attempt >= MAX_STALE_RETRIES || crossed > MAX_EPOCHS_CROSSED) throw error;
      await syncAfterStale(client, ring, scope, error, o.members, `#${topic}`);
      continue;
    }
    slot.answered(posted.epoch_due);
    // Near the scheduled rotation: the next epoch is made in the background, so no send waits for it.
    if (posted.epoch_due) void rotateAhead(client, ring, scope, posted.epoch_due);
    return posted.message;
  }
}

/**
 * Opens a topic message with the keyring, never throwing and never guessing: version 1 passes
 * through; version 2 gets its text, or `text: null` with why — the key has not reached this
 * member yet (WAITING_FOR_KEY), or the message does not verify for its mesh, topic, epoch, sender
 * and id (a tampered or re-labelled row).
 */
export function openTopicMessage(ring: EpochKeyring, m: TopicMessage): OpenedTopicMessage {
  if (m.body_version === 1) return { ...m, text: m.text ?? '' };
  if (m.body_version !== 2 || m.key_epoch === undefined || m.nonce === undefined || m.ciphertext === undefined || m.sig === undefined) {
    return { ...m, text: null, reason: `body_version ${m.body_version} is not one this client reads` };
  }
  try {
    const text = ring.decrypt(topicScope(m.topic), m.key_epoch, m.sender.member_pubkey, m.client_id, { nonce: m.nonce, ciphertext: m.ciphertext, sig: m.sig });
    return { ...m, text };
  } catch (error) {
    if (error instanceof EpochKeyError && error.code === 'E_NO_KEY') return { ...m, text: null, reason: WAITING_FOR_KEY };
    if (isCryptoError(error)) return { ...m, text: null, reason: `refused: ${error.message}` };
    throw error;
  }
}

/** openTopicMessage for a page, syncing the keyring once first when it lacks a key some message needs. */
export async function openTopicMessages(client: Pick<EpochTransport, 'getEpochs'>, ring: EpochKeyring, messages: readonly TopicMessage[]): Promise<OpenedTopicMessage[]> {
  const lacking = (m: TopicMessage): boolean => m.body_version === 2 && m.key_epoch !== undefined && ring.context(topicScope(m.topic), m.key_epoch) === null;
  const needed = new Set(messages.filter(lacking).map((m) => m.topic));
  for (const topic of needed) {
    const scope = topicScope(topic);
    await syncEpochs(client, ring, scope);
    // Still lacking an epoch from before this member's join: a member may have shared it since
    // (a topic whose history is shared), under an epoch this keyring verified already.
    if (messages.some((m) => m.topic === topic && lacking(m) && m.key_epoch! < ring.firstListed(scope))) await syncHistory(client, ring, scope);
  }
  return messages.map((m) => openTopicMessage(ring, m));
}
