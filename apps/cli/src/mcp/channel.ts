import { decodeBody, WAITING_FOR_KEY, type DecodedBody, type InboundMessage, type OpenedTopicMessage, type StoredMesh, type TopicMessage } from '@claudemesh/core';
import { safeLine } from '../terminal-text.js';

/** The notification Claude Code turns into a channel message in the session. */
export const CHANNEL_METHOD = 'notifications/claude/channel';

/** The capability key that makes Claude Code listen for {@link CHANNEL_METHOD}. */
export const CHANNEL_CAPABILITY = 'claude/channel';

/**
 * Claude Code drops a whole channel notification, silently, when a meta key is not an identifier
 * or a meta value is not a string; so meta is typed string→string and built from strings only.
 * Meta values are one-line labels, so the ones others chose (names, the mesh name) have their
 * control characters made visible; the content stays exactly what was sent.
 */
export type ChannelMeta = Record<string, string>;

export interface ChannelNotification {
  method: typeof CHANNEL_METHOD;
  params: { content: string; meta: ChannelMeta };
}

/** The mesh a message came through, as far as the notification needs to name it. */
export type MeshRef = Pick<StoredMesh, 'mesh_id' | 'mesh_name'>;

const META_KEY = /^[a-z_]+$/;

/** True when Claude Code would accept this meta object (identifier keys, string values only). */
export function isChannelMeta(meta: unknown): meta is ChannelMeta {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return false;
  return Object.entries(meta).every(([key, value]) => META_KEY.test(key) && typeof value === 'string');
}

/** "direct message", "to @team" or "to everyone (*)": where the message was addressed. */
function describeTarget(m: InboundMessage): string {
  if (m.kind === 'dm') return 'direct message';
  if (m.kind === 'broadcast') return 'to everyone (*)';
  return `to ${m.to}`;
}

/**
 * What the model reads: who sent it and how, the priority when it is not the default `next`, the
 * message it answers, then the text itself on its own lines.
 */
export function channelContent(m: InboundMessage, body: DecodedBody): string {
  const details = [describeTarget(m)];
  if (body.priority !== 'next') details.push(`priority ${body.priority}`);
  if (body.replyTo) details.push(`in reply to message ${body.replyTo}`);
  const from = body.forwarded ? `${body.forwarded.from}@${body.forwarded.mesh} (forwarded by ${m.from.displayName})` : m.from.displayName;
  return `claudemesh message ${m.messageId} from ${from} (${details.join(', ')}):\n${body.text}`;
}

/** The machine-readable side of the notification; every value is a string (see {@link ChannelMeta}). */
export function channelMeta(m: InboundMessage, body: DecodedBody, mesh: MeshRef): ChannelMeta {
  const meta: ChannelMeta = {
    from_name: safeLine(m.from.displayName),
    from_member: m.from.memberPubkey,
    from_session: m.from.sessionPubkey,
    message_id: m.messageId,
    client_id: m.clientId,
    mesh: safeLine(mesh.mesh_name),
    mesh_id: mesh.mesh_id,
    kind: m.kind,
    to: safeLine(m.to),
    priority: body.priority,
    sent_at: new Date(m.sentAt).toISOString(),
  };
  if (body.replyTo) meta['reply_to'] = body.replyTo;
  if (body.forwarded) {
    meta['forwarded_from'] = safeLine(body.forwarded.from);
    meta['forwarded_mesh'] = safeLine(body.forwarded.mesh);
  }
  return meta;
}

/**
 * A topic message (docs/topics.md) as a channel event: marked `kind: topic` with its `#topic`, so
 * the model tells it from a DM and answers in the topic (`claudemesh topic send <topic> …`). A
 * message of an e2e topic (body_version 2) comes opened (its text decrypted and its sender's
 * signature checked) with `encryption: e2e`; one this member cannot open yet says why instead
 * (`(encrypted: waiting for a key from a member)`, and `undecryptable` in meta), never ciphertext.
 */
export function topicNotification(m: TopicMessage | OpenedTopicMessage, mesh: MeshRef): ChannelNotification {
  const details = m.reply_to ? ` (in reply to message ${m.reply_to})` : '';
  const meta: ChannelMeta = {
    kind: 'topic',
    topic: safeLine(m.topic),
    message_id: m.id,
    client_id: m.client_id,
    from: safeLine(m.sender.display_name),
    from_name: safeLine(m.sender.display_name),
    from_member: m.sender.member_pubkey,
    mesh: safeLine(mesh.mesh_name),
    mesh_id: mesh.mesh_id,
    sent_at: new Date(m.created_at).toISOString(),
  };
  if (m.reply_to) meta['reply_to'] = m.reply_to;
  let text = m.text ?? '(encrypted topic message)';
  if (m.body_version === 2) {
    meta['encryption'] = 'e2e';
    if (typeof m.text !== 'string') {
      const why = ('reason' in m ? m.reason : undefined) ?? WAITING_FOR_KEY;
      meta['undecryptable'] = safeLine(why);
      text = `(encrypted: ${why})`;
    }
  }
  const content = `claudemesh #${m.topic} message ${m.id} from ${m.sender.display_name}${details}:\n${text}`;
  return { method: CHANNEL_METHOD, params: { content, meta } };
}

/** Builds the `notifications/claude/channel` frame for one decrypted message. */
export function channelNotification(m: InboundMessage, mesh: MeshRef): ChannelNotification {
  const body = decodeBody(m.text);
  return { method: CHANNEL_METHOD, params: { content: channelContent(m, body), meta: channelMeta(m, body, mesh) } };
}
