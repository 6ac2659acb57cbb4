import type { Notification, TopicMessage } from '@claudemesh/core';
import type { MeshState } from '../meshes/mesh-directory.js';

export interface TopicRow {
  id: string;
  mesh_id: string;
  name: string;
  visibility: 'public' | 'private';
  description: string;
  encryption: 'e2e' | 'plaintext';
  history: 'since_join' | 'shared';
  created_at: Date;
}

export interface MessageRow {
  id: string;
  topic_id: string;
  topic: string;
  sender_member_id: string;
  client_id: string;
  reply_to: string | null;
  body_version: number;
  body: string | null;
  nonce: Buffer | null;
  ciphertext: Buffer | null;
  key_epoch: number | null;
  sig: string | null;
  created_at: Date;
  mentions: string[] | null;
}

export interface NotificationRow {
  id: string;
  kind: 'mention' | 'reply';
  actor_member_id: string;
  created_at: Date;
  read_at: Date | null;
}

/** Message columns plus the topic name and the mentioned member ids (from notifications). */
export const MESSAGE_COLUMNS = `m.id, m.topic_id, t.name AS topic, m.sender_member_id, m.client_id, m.reply_to, m.body_version, m.body, m.nonce,
  m.ciphertext, m.key_epoch, m.sig, m.created_at,
  ARRAY(SELECT n.member_id::text FROM notifications n WHERE n.message_id = m.id AND n.kind = 'mention' ORDER BY n.member_id) AS mentions`;

export function senderOf(state: MeshState, memberId: string): TopicMessage['sender'] {
  const m = state.byId.get(String(memberId))!;
  return { member_pubkey: m.pubkey, display_name: m.displayName, peer_type: m.peerType };
}

/**
 * The wire form of a stored topic message: version 1 carries `text`, version 2 its sealed form and
 * signature (with the sender's key and client id beside them, a reader rebuilds the associated data).
 */
export function toTopicMessage(state: MeshState, r: MessageRow): TopicMessage {
  const base: TopicMessage = {
    id: String(r.id),
    topic: r.topic,
    client_id: r.client_id,
    sender: senderOf(state, r.sender_member_id),
    reply_to: r.reply_to === null ? null : String(r.reply_to),
    body_version: r.body_version,
    mentions: (r.mentions ?? []).map((id) => state.byId.get(String(id))?.pubkey).filter((k): k is string => k !== undefined),
    created_at: r.created_at.getTime(),
  };
  if (r.body_version === 1) return { ...base, text: r.body ?? '' };
  return { ...base, nonce: Buffer.from(r.nonce!).toString('base64url'), ciphertext: Buffer.from(r.ciphertext!).toString('base64url'), sig: r.sig!, key_epoch: r.key_epoch! };
}

export function toNotification(state: MeshState, n: NotificationRow, message: TopicMessage): Notification {
  return {
    id: String(n.id),
    kind: n.kind,
    topic: message.topic,
    message,
    actor: senderOf(state, n.actor_member_id),
    created_at: n.created_at.getTime(),
    read_at: n.read_at?.getTime() ?? null,
  };
}

/**
 * `@name` mentions in a text: tokens naming a member of the mesh (display-name syntax, not a
 * lowercase group), each member once. An email address is not a mention (`a@b`).
 */
export function mentionedNames(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/(^|[^A-Za-z0-9._-])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})/g)) out.add(m[2]!.replace(/[._-]+$/, ''));
  return [...out];
}
