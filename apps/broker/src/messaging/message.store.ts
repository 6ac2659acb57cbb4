import { Injectable } from '@nestjs/common';
import type { ReceiptPolicy } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import { rows } from '../db/sql.js';

export interface NewMessage {
  meshId: string;
  senderMemberId: string;
  senderSessionPubkey: string;
  clientId: string;
  kind: 'dm' | 'group' | 'broadcast';
  target: string;
  nonce: Buffer;
  ciphertext: Buffer;
  /** Which state advances are pushed to the sender (protocol §7.3). */
  receipts: ReceiptPolicy;
  recipients: string[];
  /** body_version 2 (`@group`, `*`): the mesh-scope epoch and the sender's signature; null otherwise. */
  keyEpoch: number | null;
  sig: string | null;
}

export interface StoredMessage {
  messageId: string;
  acceptedAt: number;
  recipients: number;
  duplicate: boolean;
}

export interface QueuedRow {
  id: string;
  client_id: string;
  kind: 'dm' | 'group' | 'broadcast';
  target: string;
  nonce: Buffer;
  ciphertext: Buffer;
  created_at: Date;
  sender_session_pubkey: string;
  sender_pubkey: string;
  sender_name: string;
  key_epoch: number | null;
  sig: string | null;
}

export interface StateChange {
  recipientMemberId: string;
  recipientPubkey: string;
  messageId: string;
  state: 'delivered' | 'read';
}

export interface ChangedDelivery {
  message_id: string;
  recipient_member_id: string;
  sender_member_id: string;
  client_id: string;
  state: 'delivered' | 'read';
  at: Date;
  receipts: ReceiptPolicy;
  mesh_id: string;
  /** When the message was accepted (analytics: the handoff starts there). */
  sent_at: Date;
  /** This change confirmed delivery (a `read` of a still-queued delivery does too). */
  delivered_now: boolean;
}

/**
 * One statement, so one round trip and one implicit transaction per batch: the messages, then
 * their deliveries joined on (sender, client id). Retried client ids hit ON CONFLICT, are not
 * returned, and get no deliveries.
 */
const INSERT_BATCH = `
WITH ins AS (
  INSERT INTO messages (mesh_id, sender_member_id, sender_session_pubkey, client_id, kind, target, nonce, ciphertext, receipts, key_epoch, sig)
  SELECT mesh_id, sender, session, client_id, kind, target, nonce, ciphertext, receipts, key_epoch, sig
  FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bytea[], $12::text[], $13::int[], $14::text[])
       WITH ORDINALITY AS t(mesh_id, sender, session, client_id, kind, target, nonce, ciphertext, receipts, key_epoch, sig, ord)
  ORDER BY ord
  ON CONFLICT (sender_member_id, client_id) DO NOTHING
  RETURNING id, sender_member_id, client_id, created_at
), del AS (
  INSERT INTO deliveries (recipient_member_id, message_id)
  SELECT d.recipient, ins.id
  FROM ins JOIN unnest($9::bigint[], $10::text[], $11::bigint[]) AS d(sender, client_id, recipient)
    ON d.sender = ins.sender_member_id AND d.client_id = ins.client_id
)
SELECT id, sender_member_id, client_id, created_at FROM ins`;

const FIND_EXISTING = `
SELECT m.id, m.sender_member_id, m.client_id, m.created_at, (SELECT count(*) FROM deliveries d WHERE d.message_id = m.id)::int AS recipients
FROM messages m JOIN unnest($1::bigint[], $2::text[]) AS u(sender, client_id)
  ON m.sender_member_id = u.sender AND m.client_id = u.client_id`;

const SELECT_QUEUED = `
SELECT m.id, m.client_id, m.kind, m.target, m.nonce, m.ciphertext, m.created_at, m.sender_session_pubkey, m.key_epoch, m.sig,
       s.pubkey AS sender_pubkey, s.display_name AS sender_name
FROM deliveries d
JOIN messages m ON m.id = d.message_id
JOIN members s ON s.id = m.sender_member_id
WHERE d.recipient_member_id = $1 AND d.state = 'queued' AND d.message_id > $2
ORDER BY d.message_id
LIMIT $3`;

/** Delivered and read confirmations in one statement; a pair is never in both sets (read implies delivered). */
const MARK_STATES = `
WITH delivered AS (
  UPDATE deliveries d SET state = 'delivered', delivered_at = now()
  FROM unnest($1::bigint[], $2::bigint[]) AS u(recipient, message_id), messages m
  WHERE d.recipient_member_id = u.recipient AND d.message_id = u.message_id AND d.state = 'queued' AND m.id = d.message_id
  RETURNING d.message_id, d.recipient_member_id, m.sender_member_id, m.client_id, 'delivered' AS state, d.delivered_at AS at, m.receipts,
            m.mesh_id, m.created_at AS sent_at, true AS delivered_now
), read AS (
  UPDATE deliveries d SET state = 'read', read_at = now(), delivered_at = coalesce(d.delivered_at, now())
  FROM unnest($3::bigint[], $4::bigint[]) AS u(recipient, message_id), messages m
  WHERE d.recipient_member_id = u.recipient AND d.message_id = u.message_id AND d.state <> 'read' AND m.id = d.message_id
  RETURNING d.message_id, d.recipient_member_id, m.sender_member_id, m.client_id, 'read' AS state, d.read_at AS at, m.receipts,
            -- Both set to this statement's now(): it was still queued, so this is its delivery too.
            m.mesh_id, m.created_at AS sent_at, d.delivered_at = d.read_at AS delivered_now
)
SELECT * FROM delivered UNION ALL SELECT * FROM read`;

const key = (sender: string, clientId: string): string => `${sender}:${clientId}`;

/**
 * The wire pattern for message ids allows 19 digits, beyond a bigint sequence: no message has such an
 * id, so it is dropped here (an unknown id) rather than failing the statement, and with it the whole
 * batch of other members' confirmations.
 */
const MAX_MESSAGE_ID = 9_223_372_036_854_775_807n;
const canExist = (messageId: string): boolean => BigInt(messageId) <= MAX_MESSAGE_ID;

/** All SQL of the send path: batched statements (unnest), one statement per batch. */
@Injectable()
export class MessageStore {
  constructor(private readonly ds: DataSource) {}

  async insertBatch(batch: NewMessage[]): Promise<StoredMessage[]> {
    const byKey = new Map<string, NewMessage>();
    for (const m of batch) if (!byKey.has(key(m.senderMemberId, m.clientId))) byKey.set(key(m.senderMemberId, m.clientId), m);
    const unique = [...byKey.values()];
    const dSender: string[] = [];
    const dClient: string[] = [];
    const dRecipient: string[] = [];
    for (const m of unique) {
      for (const r of m.recipients) {
        dSender.push(m.senderMemberId);
        dClient.push(m.clientId);
        dRecipient.push(r);
      }
    }
    const inserted = await rows<{ id: string; sender_member_id: string; client_id: string; created_at: Date }>(this.ds, INSERT_BATCH, [
      unique.map((m) => m.meshId),
      unique.map((m) => m.senderMemberId),
      unique.map((m) => m.senderSessionPubkey),
      unique.map((m) => m.clientId),
      unique.map((m) => m.kind),
      unique.map((m) => m.target),
      unique.map((m) => m.nonce),
      unique.map((m) => m.ciphertext),
      dSender,
      dClient,
      dRecipient,
      unique.map((m) => m.receipts),
      unique.map((m) => m.keyEpoch),
      unique.map((m) => m.sig),
    ]);
    const results = new Map<string, StoredMessage>();
    for (const row of inserted) {
      const k = key(String(row.sender_member_id), row.client_id);
      results.set(k, { messageId: String(row.id), acceptedAt: row.created_at.getTime(), recipients: byKey.get(k)!.recipients.length, duplicate: false });
    }
    const missing = unique.filter((m) => !results.has(key(m.senderMemberId, m.clientId)));
    if (missing.length > 0) {
      const existing = await rows<{ id: string; sender_member_id: string; client_id: string; created_at: Date; recipients: number }>(this.ds, FIND_EXISTING, [
        missing.map((m) => m.senderMemberId),
        missing.map((m) => m.clientId),
      ]);
      for (const row of existing) {
        results.set(key(String(row.sender_member_id), row.client_id), {
          messageId: String(row.id),
          acceptedAt: row.created_at.getTime(),
          recipients: row.recipients,
          duplicate: true,
        });
      }
    }
    // A client id repeated inside one batch: the first copy is the message, the others retries.
    const answered = new Set<string>();
    return batch.map((m) => {
      const k = key(m.senderMemberId, m.clientId);
      const r = results.get(k);
      if (!r) throw new Error(`message ${m.clientId} neither inserted nor found`);
      const first = !answered.has(k);
      answered.add(k);
      return first ? r : { ...r, duplicate: true };
    });
  }

  /** The stored message for a sender's client id, if any (answers a retry whose target is gone). */
  async findByClientId(senderMemberId: string, clientId: string): Promise<StoredMessage | null> {
    const [row] = await rows<{ id: string; created_at: Date; recipients: number }>(this.ds, FIND_EXISTING, [[senderMemberId], [clientId]]);
    return row ? { messageId: String(row.id), acceptedAt: row.created_at.getTime(), recipients: row.recipients, duplicate: true } : null;
  }

  queued(recipientMemberId: string, afterId: bigint, limit: number): Promise<QueuedRow[]> {
    return rows<QueuedRow>(this.ds, SELECT_QUEUED, [recipientMemberId, afterId.toString(), limit]);
  }

  async queuedCount(recipientMemberId: string): Promise<number> {
    const [row] = await rows<{ n: number }>(this.ds, `SELECT count(*)::int AS n FROM deliveries WHERE recipient_member_id = $1 AND state = 'queued'`, [recipientMemberId]);
    return row?.n ?? 0;
  }

  /** Deliveries still `queued`, over all members (the partial index deliveries_queued_idx holds just these). */
  async queuedTotal(): Promise<number> {
    const [row] = await rows<{ n: number }>(this.ds, `SELECT count(*)::int AS n FROM deliveries WHERE state = 'queued'`);
    return row?.n ?? 0;
  }

  /** Messages and ciphertext bytes still `queued` for each of these members (absent: none). */
  async queuedTotals(recipientMemberIds: string[]): Promise<Map<string, { count: number; bytes: number }>> {
    const found = await rows<{ member: string; n: number; bytes: string }>(
      this.ds,
      `SELECT d.recipient_member_id AS member, count(*)::int AS n, coalesce(sum(octet_length(m.ciphertext)), 0)::bigint AS bytes
       FROM deliveries d JOIN messages m ON m.id = d.message_id
       WHERE d.recipient_member_id = ANY($1::bigint[]) AND d.state = 'queued'
       GROUP BY d.recipient_member_id`,
      [recipientMemberIds],
    );
    return new Map(found.map((r) => [String(r.member), { count: r.n, bytes: Number(r.bytes) }]));
  }

  /** Applies a batch of delivered/read confirmations; returns the rows whose state actually advanced. */
  applyStateChanges(all: StateChange[]): Promise<ChangedDelivery[]> {
    const changes = all.filter((c) => canExist(c.messageId));
    const read = changes.filter((c) => c.state === 'read');
    const readKeys = new Set(read.map((c) => `${c.recipientMemberId}:${c.messageId}`));
    const delivered = changes.filter((c) => c.state === 'delivered' && !readKeys.has(`${c.recipientMemberId}:${c.messageId}`));
    return rows<ChangedDelivery>(this.ds, MARK_STATES, [
      delivered.map((c) => c.recipientMemberId),
      delivered.map((c) => c.messageId),
      read.map((c) => c.recipientMemberId),
      read.map((c) => c.messageId),
    ]);
  }

  /** Delivery states of a sender's own messages. */
  status(senderMemberId: string, by: { messageIds?: string[]; clientIds?: string[] }) {
    if (by.messageIds) by = { messageIds: by.messageIds.filter(canExist) };
    const filter = by.messageIds ? 'm.id = ANY($2::bigint[])' : 'm.client_id = ANY($2::text[])';
    return rows<{
      id: string;
      client_id: string;
      kind: 'dm' | 'group' | 'broadcast';
      target: string;
      created_at: Date;
      recipient_member_id: string | null;
      state: 'queued' | 'delivered' | 'read' | null;
      delivered_at: Date | null;
      read_at: Date | null;
    }>(
      this.ds,
      `SELECT m.id, m.client_id, m.kind, m.target, m.created_at, d.recipient_member_id, d.state, d.delivered_at, d.read_at
       FROM messages m LEFT JOIN deliveries d ON d.message_id = m.id
       WHERE m.sender_member_id = $1 AND ${filter}
       ORDER BY m.id, d.recipient_member_id`,
      [senderMemberId, by.messageIds ?? by.clientIds],
    );
  }
}
