import {
  claudemeshHome, meshMembersWithKeys, openTopicMessages, topicSendEncrypted, WAITING_FOR_KEY, type MeshClient, type OpenedTopicMessage, type PeerInfo, type StoredMesh, type TopicMessage,
} from '@claudemesh/core';
import { connectTo } from '../context.js';
import { withRestKey } from './ephemeral-key.js';
import { LocalStore } from '../store/local-store.js';
import { loadKeyring, type StoredKeyring } from '../topic-keyring.js';

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
    return await sendEncryptedWith(client, mesh, topic, text, o);
  } finally {
    await client.close();
  }
}

/**
 * Who epoch 1 of an e2e topic lists when a post creates it: a private topic's members (asked over
 * REST with a short-lived read key), else the mesh's members that hold keys.
 */
export async function epochOneMembers(mesh: StoredMesh, topic: string, client: MeshClient): Promise<string[]> {
  const controller = new AbortController();
  const members = await withRestKey(mesh, { verb: 'topic send', capabilities: ['read'], topics: [topic], signal: controller.signal }, async (reader) => {
    const t = await reader.topic(topic);
    return t.visibility === 'private' ? (await reader.topicMembers(topic)).map((m) => m.member_pubkey) : null;
  });
  return members ?? meshMembersWithKeys(client);
}

/** sendEncryptedPost over a connection the caller holds (the MCP push-pipe's). */
export async function sendEncryptedWith(client: MeshClient, mesh: StoredMesh, topic: string, text: string, o: { replyTo?: string; topicMembers?: () => Promise<string[]> }): Promise<TopicMessage> {
  const stored = await loadKeyring(claudemeshHome(), mesh, client);
  const peers = await client.listPeers();
  try {
    const sent = await topicSendEncrypted(client, stored.ring, topic, text, {
      // REST-only humans hold no key to seal to: never listed (the broker would refuse the epoch).
      members: o.topicMembers
        ? async () => {
          const restOnly = new Set(peers.filter((p) => p.rest_only === true).map((p) => p.member_pubkey));
          return (await o.topicMembers!()).filter((k) => !restOnly.has(k));
        }
        : () => meshMembersWithKeys(client),
      mentions: mentionedKeys(text, peers),
      ...(o.replyTo ? { replyTo: o.replyTo } : {}),
    });
    indexOpened(mesh, [{ ...sent, text }]);
    return sent;
  } finally {
    stored.save();
  }
}

/**
 * Opens messages over a connection the caller holds (the MCP push-pipe's): loads the keyring
 * (what the daemon or another run saved included), fetches the keys it lacks, saves it, and
 * indexes what opened. Version 1 messages pass through without touching the keyring.
 */
export async function openWithClient(client: MeshClient, mesh: StoredMesh, messages: readonly TopicMessage[]): Promise<OpenedTopicMessage[]> {
  if (!messages.some((m) => m.body_version === 2)) return messages.map((m) => ({ ...m, text: m.text ?? '' }));
  const stored = await loadKeyring(claudemeshHome(), mesh, client);
  try {
    const opened = await openTopicMessages(client, stored.ring, messages);
    indexOpened(mesh, opened);
    return opened;
  } finally {
    stored.save();
  }
}

/**
 * Opens what a page of an e2e topic holds: version 1 rows pass through, version 2 rows get their
 * text, or `text: null` with the reason (a key not yet sealed to this member). Connects only when
 * some row is sealed; syncs the keyring once for the epochs it lacks and saves it.
 */
export async function openPage(mesh: StoredMesh, messages: readonly TopicMessage[]): Promise<OpenedTopicMessage[]> {
  const reader = new E2eReader(mesh, { reconnect: false });
  try {
    return await reader.open(messages);
  } finally {
    await reader.close();
  }
}

/** What a view shows of one e2e message beside the broker's row: the opened text, or why there is none. */
export interface OpenedText {
  text: string | null;
  reason?: string;
}

const openedKey = (m: Pick<TopicMessage, 'topic' | 'id'>): string => `${m.topic}/${m.id}`;

/**
 * Opens the e2e messages among `messages` (views that list them beside others: `me activity`,
 * notifications), keyed by topic and id; plaintext ones are not in the map. Never throws: when the
 * keyring or the broker cannot be reached, each sealed message says so instead of its text.
 */
export async function openBeside(mesh: StoredMesh, messages: readonly TopicMessage[]): Promise<Map<string, OpenedText>> {
  const sealed = messages.filter((m) => m.body_version === 2);
  const out = new Map<string, OpenedText>();
  if (sealed.length === 0) return out;
  try {
    for (const m of await openPage(mesh, sealed)) out.set(openedKey(m), m.text === null ? { text: null, reason: m.reason ?? WAITING_FOR_KEY } : { text: m.text });
  } catch (error) {
    for (const m of sealed) out.set(openedKey(m), { text: null, reason: `could not be opened here: ${(error as Error).message}` });
  }
  return out;
}

/** The opened text of `m` from openBeside's map, undefined for a plaintext message. */
export function openedOf(opened: ReadonlyMap<string, OpenedText>, m: Pick<TopicMessage, 'topic' | 'id'>): OpenedText | undefined {
  return opened.get(openedKey(m));
}

/**
 * The `--json` fields a view adds beside an e2e message (the broker's row stays as it is):
 * `opened_text`, and `undecryptable_reason` when it could not be opened. Nothing for plaintext.
 */
export function openedFields(o: OpenedText | undefined): Record<string, unknown> {
  if (!o) return {};
  return o.text === null ? { opened_text: null, undecryptable_reason: o.reason ?? WAITING_FOR_KEY } : { opened_text: o.text };
}

/** How a text view shows an e2e message: its opened text, or `(encrypted: why)`. */
export function openedDisplay(o: OpenedText): string {
  return o.text ?? `(encrypted: ${o.reason ?? WAITING_FOR_KEY})`;
}

/** A notification as a text view prints it: its message's text replaced by the opened one (a copy; the row is not touched). */
export function withOpenedText<N extends { message: TopicMessage }>(n: N, o: OpenedText | undefined): N {
  return o ? { ...n, message: { ...n.message, text: openedDisplay(o) } } : n;
}

/**
 * Opens pages or single messages as they come (history, tail): connects and loads the keyring on
 * the first sealed message only, then keeps both for the next ones, syncing the keyring only when
 * a message names an epoch it lacks. What opens is indexed for `me search`.
 */
export class E2eReader {
  private session: Promise<{ client: MeshClient; stored: StoredKeyring }> | null = null;

  constructor(
    private readonly mesh: StoredMesh,
    private readonly o: { reconnect: boolean },
  ) {}

  async open(messages: readonly TopicMessage[]): Promise<OpenedTopicMessage[]> {
    if (!messages.some((m) => m.body_version === 2)) return messages.map((m) => ({ ...m, text: m.text ?? '' }));
    this.session ??= this.connect();
    const { client, stored } = await this.session;
    try {
      const opened = await openTopicMessages(client, stored.ring, messages);
      indexOpened(this.mesh, opened);
      return opened;
    } finally {
      stored.save();
    }
  }

  async close(): Promise<void> {
    const session = await this.session?.catch(() => null);
    this.session = null;
    await session?.client.close();
  }

  private async connect(): Promise<{ client: MeshClient; stored: StoredKeyring }> {
    const client = await connectTo(this.mesh, { reconnect: this.o.reconnect });
    try {
      return { client, stored: await loadKeyring(claudemeshHome(), this.mesh, client) };
    } catch (error) {
      await client.close();
      throw error;
    }
  }
}

/**
 * Keeps the decrypted messages of e2e topics in the local search index (store/topic-index.ts): the
 * broker cannot search them. Plaintext ones are the broker's to search; undecryptable ones wait.
 */
export function indexOpened(mesh: StoredMesh, messages: readonly OpenedTopicMessage[]): void {
  const sealed = messages.filter((m): m is OpenedTopicMessage & { text: string } => m.body_version === 2 && typeof m.text === 'string');
  if (sealed.length === 0) return;
  const store = LocalStore.open(claudemeshHome());
  try {
    const index = store.topicIndex();
    for (const m of sealed) {
      index.add({
        mesh_id: mesh.mesh_id,
        topic: m.topic,
        message_id: m.id,
        sender_name: m.sender.display_name,
        sender_member: m.sender.member_pubkey,
        epoch: m.key_epoch ?? null,
        created_at: m.created_at,
        text: m.text,
      });
    }
  } finally {
    store.close();
  }
}

/** The `--json` form of an opened message: `text` null with `undecryptable_reason` when it cannot be opened. */
export function openedJson(m: OpenedTopicMessage): Record<string, unknown> {
  const { reason, ...rest } = m;
  return m.text === null ? { ...rest, undecryptable_reason: reason ?? null } : rest;
}

/** A `me search` hit from the local index: what was decrypted, without the sealed fields or what the index does not keep. */
export interface LocalHit {
  id: string;
  topic: string;
  sender: { member_pubkey: string; display_name: string };
  body_version: 2;
  key_epoch: number | null;
  text: string;
  created_at: number;
  /** Found on this machine (an e2e topic), not by the broker. */
  local: true;
}

/**
 * Hits of `me search` in what this member decrypted of e2e topics (the broker's search covers
 * plaintext topics only), best first.
 */
export function localSearch(mesh: StoredMesh, query: string, o: { topic?: string; limit: number }): LocalHit[] {
  const store = LocalStore.open(claudemeshHome());
  try {
    return store
      .topicIndex()
      .search(query, { meshId: mesh.mesh_id, limit: o.limit, ...(o.topic ? { topic: o.topic } : {}) })
      .map((h) => ({
        id: h.message_id,
        topic: h.topic,
        sender: { member_pubkey: h.sender_member, display_name: h.sender_name },
        body_version: 2,
        key_epoch: h.epoch,
        text: h.text,
        created_at: h.created_at,
        local: true,
      }));
  } finally {
    store.close();
  }
}
