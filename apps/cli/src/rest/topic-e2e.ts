import { claudemeshHome, meshMembersWithKeys, openTopicMessages, topicSendEncrypted, type OpenedTopicMessage, type PeerInfo, type StoredMesh, type TopicMessage } from '@claudemesh/core';
import { connectTo } from '../context.js';
import { loadKeyring } from '../topic-keyring.js';

/**
 * The CLI's end-to-end encrypted topics (docs/topics.md "Encryption"): the broker cannot read an
 * e2e topic, so its posts are sealed and its history opened here, over a direct connection with
 * the member's keyring (topic-keyring.ts). The REST verbs still list, page and mark read; only the
 * text crosses the WebSocket, sealed.
 */

/**
 * `@name` tokens naming members, as the broker reads them in a plaintext post (same syntax): the
 * broker cannot read a sealed post, so the sender declares whom it mentions, by member key.
 */
export function mentionedKeys(text: string, peers: readonly PeerInfo[]): string[] {
  const keys = new Set<string>();
  for (const m of text.matchAll(/(^|[^A-Za-z0-9._-])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})/g)) {
    const name = m[2]!.replace(/[._-]+$/, '');
    const peer = peers.find((p) => p.display_name === name);
    if (peer) keys.add(peer.member_pubkey);
  }
  return [...keys];
}

/**
 * Seals `text` for an e2e topic and posts it. `topicMembers` lists a private topic's members (who
 * epoch 1 lists when this post creates it); a public topic's epoch 1 lists the mesh's members that
 * hold keys. The keyring is saved whether the post went through or not (a rotation it made stands).
 */
export async function sendEncryptedPost(mesh: StoredMesh, topic: string, text: string, o: { replyTo?: string; topicMembers?: () => Promise<string[]> }): Promise<TopicMessage> {
  const client = await connectTo(mesh);
  try {
    const stored = await loadKeyring(claudemeshHome(), mesh, client);
    const peers = await client.listPeers();
    try {
      return await topicSendEncrypted(client, stored.ring, topic, text, {
        members: o.topicMembers ?? (() => meshMembersWithKeys(client)),
        mentions: mentionedKeys(text, peers),
        ...(o.replyTo ? { replyTo: o.replyTo } : {}),
      });
    } finally {
      stored.save();
    }
  } finally {
    await client.close();
  }
}

/**
 * Opens what a page of an e2e topic holds: version 1 rows pass through, version 2 rows get their
 * text, or `text: null` with the reason (a key not yet sealed to this member). Connects only when
 * some row is sealed; syncs the keyring once for the epochs it lacks and saves it.
 */
export async function openPage(mesh: StoredMesh, messages: readonly TopicMessage[]): Promise<OpenedTopicMessage[]> {
  if (!messages.some((m) => m.body_version === 2)) return messages.map((m) => ({ ...m, text: m.text ?? '' }));
  const client = await connectTo(mesh);
  try {
    const stored = await loadKeyring(claudemeshHome(), mesh, client);
    try {
      return await openTopicMessages(client, stored.ring, messages);
    } finally {
      stored.save();
    }
  } finally {
    await client.close();
  }
}

/** The `--json` form of an opened message: `text` null with `undecryptable_reason` when it cannot be opened. */
export function openedJson(m: OpenedTopicMessage): Record<string, unknown> {
  const { reason, ...rest } = m;
  return m.text === null ? { ...rest, undecryptable_reason: reason ?? null } : rest;
}
