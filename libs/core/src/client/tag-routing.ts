import { ProtocolError } from '../protocol/v1/errors.js';
import { PeerTag } from '../protocol/v1/primitives.js';
import type { PeerInfo } from '../protocol/v1/server-frames.js';
import type { Ack } from './types.js';

/**
 * Tag routing (docs/protocol.md §5.7): `tag:<tag>` reaches every member with a live session that
 * advertises the tag, `tag?:<tag>` one of them, the least busy. Resolved here, in the sender's
 * client, from `list_peers` — so the broker learns only the public keys it already serves — and
 * sent as one DM per member, each boxed for its recipient: end-to-end encryption, grants and blocks
 * hold as for any DM.
 */
export interface TagTarget {
  tag: string;
  /** Anycast: one peer (`tag?:`), else every peer (`tag:`). */
  any: boolean;
}

/** `tag:<tag>` or `tag?:<tag>` as a target, or null when `to` is not one. Throws E_SCHEMA for a malformed tag. */
export function parseTagTarget(to: string): TagTarget | null {
  const m = /^tag(\??):(.*)$/.exec(to);
  if (!m) return null;
  if (!PeerTag.safeParse(m[2]).success) throw new ProtocolError('E_SCHEMA', `"${m[2]}" is not a tag (name or name:value, lowercase; e.g. tag:repo:billing)`);
  return { tag: m[2]!, any: m[1] === '?' };
}

const BUSY: Record<string, number> = { idle: 0, working: 1, dnd: 2 };

/** Members (not `self`) with at least one live session that advertises `tag`, by display name. */
export function peersWithTag(peers: readonly PeerInfo[], tag: string, self: string): PeerInfo[] {
  return peers
    .filter((p) => p.member_pubkey !== self && p.rest_only !== true && p.sessions.some((s) => s.tags?.includes(tag)))
    .sort((a, b) => a.display_name.localeCompare(b.display_name));
}

/**
 * The anycast pick: the member whose least busy tagged session is least busy (idle, then working,
 * then do-not-disturb); among equals, one at random, so load spreads.
 */
export function pickAnycast(candidates: readonly PeerInfo[], tag: string, random: () => number = Math.random): PeerInfo {
  const busy = (p: PeerInfo): number => Math.min(...p.sessions.filter((s) => s.tags?.includes(tag)).map((s) => BUSY[s.status] ?? 1));
  const best = Math.min(...candidates.map(busy));
  const ties = candidates.filter((p) => busy(p) === best);
  return ties[Math.min(ties.length - 1, Math.floor(random() * ties.length))]!;
}

/**
 * What a tag send did: the members a copy was stored for; those whose grants dropped it (the ack
 * counted no copy: no `dm` grant for the sender — a member that blocked the sender does not show
 * its sessions, so it is never a target); and those the broker refused outright.
 */
export interface TagSendResult {
  tag: string;
  mode: 'all' | 'any';
  sent: Array<{ member_pubkey: string; display_name: string; ack: Ack }>;
  dropped: Array<{ member_pubkey: string; display_name: string; ack: Ack }>;
  refused: Array<{ member_pubkey: string; display_name: string; code: string; message: string }>;
}

/** What a tag send needs of a client. */
export interface TagSender {
  readonly memberPubkey: string;
  listPeers(): Promise<PeerInfo[]>;
  send(to: string, plaintext: string | Uint8Array, options?: { receipts?: 'all' | 'read' | 'none' }): Promise<Ack>;
}

/**
 * Sends to a tag: E_UNKNOWN_TARGET when no live peer advertises it (nothing is queued for a tag: a
 * tag is what a live session says of itself). A refusal for one member does not stop the others.
 */
export async function sendToTag(client: TagSender, target: TagTarget, plaintext: string | Uint8Array, options: { receipts?: 'all' | 'read' | 'none' } = {}): Promise<TagSendResult> {
  const candidates = peersWithTag(await client.listPeers(), target.tag, client.memberPubkey);
  if (candidates.length === 0) throw new ProtocolError('E_UNKNOWN_TARGET', `no live peer advertises tag ${target.tag}: nothing was sent (tags belong to live sessions: claudemesh peer tag list)`);
  const recipients = target.any ? [pickAnycast(candidates, target.tag)] : candidates;
  const result: TagSendResult = { tag: target.tag, mode: target.any ? 'any' : 'all', sent: [], dropped: [], refused: [] };
  await Promise.all(recipients.map(async (p) => {
    try {
      const ack = await client.send(p.member_pubkey, plaintext, options);
      (ack.recipients > 0 ? result.sent : result.dropped).push({ member_pubkey: p.member_pubkey, display_name: p.display_name, ack });
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      result.refused.push({ member_pubkey: p.member_pubkey, display_name: p.display_name, code: error.code, message: error.message });
    }
  }));
  const order = (x: { display_name: string }, y: { display_name: string }): number => x.display_name.localeCompare(y.display_name);
  result.sent.sort(order);
  result.dropped.sort(order);
  result.refused.sort(order);
  return result;
}
