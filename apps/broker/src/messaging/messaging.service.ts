import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ProtocolError, serverFrame, type ReceiptEntry, type SendFrame, type ServerFrameMap } from '@claudemesh/core';
import { BUS, memberTopic, type Bus } from '../bus/bus.js';
import { isDatabaseUnavailable } from '../common/protocol-exception.filter.js';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { AnalyticsRecorder } from '../analytics/analytics.recorder.js';
import { BrokerMetrics, QUEUE_DEPTH_MAX_AGE_MS } from '../metrics/broker-metrics.js';
import type { LiveSession } from '../presence/live-session.js';
import { GroupCommitWriter } from './group-commit.writer.js';
import { MessageStore, type ChangedDelivery, type NewMessage, type QueuedRow, type StateChange, type StoredMessage } from './message.store.js';
import { OfflineQueueQuota } from './offline-queue.quota.js';
import { MeshEpochCheck, type MeshEpochFields } from './mesh-epoch.check.js';
import { TargetResolver } from './target.resolver.js';

const DRAIN_PAGE = 500;

/** Confirmations that hit an unreachable database are retried after 250, 500, … 8 000 ms. */
const CONFIRM_RETRY_FIRST_MS = 250;
const CONFIRM_RETRY_LAST_MS = 8_000;

/** How long a scrape waits for the offline queue's depth. */
const QUEUE_DEPTH_TIMEOUT_MS = 2_000;

type Ack = Omit<ServerFrameMap['ack'], 'type'>;

@Injectable()
export class MessagingService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly sends: GroupCommitWriter<NewMessage & { push: (id: string, at: number) => string }, StoredMessage>;
  private readonly receipts: GroupCommitWriter<StateChange, undefined>;

  private readonly embedded: boolean;
  /** Deliveries in state `queued`, kept in memory on the embedded database (null: not kept). */
  private queued: number | null = null;

  constructor(
    private readonly store: MessageStore,
    private readonly resolver: TargetResolver,
    private readonly meshEpochs: MeshEpochCheck,
    private readonly quota: OfflineQueueQuota,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(BROKER_CONFIG) config: BrokerConfig,
    private readonly metrics: BrokerMetrics,
    analytics: AnalyticsRecorder,
  ) {
    this.sends = new GroupCommitWriter(async (batch) => {
      const results = await this.store.insertBatch(batch);
      // Published only after the commit: nobody sees a message that could still be rolled back.
      batch.forEach((m, i) => {
        const r = results[i]!;
        if (r.duplicate) return;
        metrics.message('accepted');
        if (this.queued !== null) this.queued += m.recipients.length;
        analytics.accepted(m.meshId, r.acceptedAt, m.ciphertext.length);
        if (m.keyEpoch !== null) this.meshEpochs.stored(m.meshId, m.keyEpoch);
        const frame = m.push(r.messageId, r.acceptedAt);
        for (const recipient of m.recipients) this.bus.publish(memberTopic(recipient), { kind: 'push', messageId: r.messageId, frame });
      });
      return results;
    }, { maxItems: 2_000, maxBytes: config.limits.sendBatchBytes, sizeOf: (m) => m.ciphertext.length });
    this.receipts = new GroupCommitWriter(async (changes) => {
      const changed = await this.store.applyStateChanges(changes);
      for (const row of changed) {
        metrics.message(row.state);
        if (!row.delivered_now) continue;
        if (this.queued !== null) this.queued -= 1;
        const sentAt = row.sent_at.getTime();
        const at = row.at.getTime();
        metrics.handoff(Math.max(0, at - sentAt) / 1000);
        analytics.delivered(row.mesh_id, sentAt, at);
      }
      this.publishReceipts(changed, changes);
      return changes.map(() => undefined);
    }, { maxItems: 5_000 });
    this.embedded = !config.databaseUrl?.trim();
    if (this.embedded) metrics.source('offline_queue_depth', () => this.queued ?? Number.NaN);
    // Postgres, which several nodes may share: counted there, at most every QUEUE_DEPTH_MAX_AGE_MS;
    // NaN when the database does not answer within the scrape's patience.
    else metrics.source('offline_queue_depth', () => withTimeout(store.queuedTotal(), QUEUE_DEPTH_TIMEOUT_MS).catch(() => Number.NaN), { maxAgeMs: QUEUE_DEPTH_MAX_AGE_MS });
  }

  /**
   * On the embedded database the offline queue's depth is kept here: counted once before the
   * broker listens, then moved by every delivery stored (+1) and every first confirmation (-1) —
   * exact, as this process is the only writer and deliveries are never deleted. A count per scrape
   * would be a query on the one session every other query waits for (docs/performance.md "Metrics").
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.embedded && this.metrics.enabled) this.queued = await this.store.queuedTotal();
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([this.sends.idle(), this.receipts.idle()]);
  }

  /**
   * Accepts a send: resolves it, checks its recipients' offline-queue quota, commits it (batched),
   * and answers only after the commit.
   */
  async send(session: LiveSession, frame: SendFrame): Promise<Ack> {
    let route;
    try {
      route = await this.resolver.resolve(session.state, session.member, frame.to);
    } catch (error) {
      // A retry of a stored message whose recipient has since gone is still that message.
      if (error instanceof ProtocolError && error.code === 'E_UNKNOWN_TARGET') return this.storedOr(session, frame, error);
      throw error;
    }
    let sealed: MeshEpochFields = { keyEpoch: null, sig: null };
    if (route.kind !== 'dm') {
      try {
        sealed = await this.meshEpochs.check(session.state, session.member, frame, route.label);
      } catch (error) {
        // A retry of a message stored before the mesh rotated is still that message.
        if (error instanceof ProtocolError) return this.storedOr(session, frame, error);
        throw error;
      }
    }
    const nonce = Buffer.from(frame.nonce, 'base64url');
    const ciphertext = Buffer.from(frame.ciphertext, 'base64url');
    if (nonce.length !== 24 || ciphertext.length < 16) throw new ProtocolError('E_SCHEMA', 'nonce must be 24 bytes and ciphertext at least 16');
    const { admitted, full } = await this.quota.admit(route.recipients, ciphertext.length);
    // A DM has one recipient: refused whole. A fan-out goes to those with room; the ack names the others.
    if (route.kind === 'dm' && full.length > 0) {
      return this.storedOr(session, frame, new ProtocolError('E_QUEUE_FULL', "the recipient's offline queue is full; nothing was stored; retry once it has caught up"));
    }
    // Pushes carry the canonical encoding of the stored bytes, live or drained alike.
    const nonceB64 = nonce.toString('base64url');
    const ciphertextB64 = ciphertext.toString('base64url');
    const from = { member_pubkey: session.member.pubkey, session_pubkey: session.sessionPubkey, display_name: session.member.displayName };
    let stored: StoredMessage;
    try {
      stored = await this.sends.submit({
        meshId: session.meshId,
        senderMemberId: session.member.id,
        senderSessionPubkey: session.sessionPubkey,
        clientId: frame.id,
        kind: route.kind,
        target: route.label,
        nonce,
        ciphertext,
        receipts: frame.receipts ?? (route.kind === 'dm' ? 'all' : 'none'),
        recipients: admitted,
        keyEpoch: sealed.keyEpoch,
        sig: sealed.sig,
        push: (messageId, at) =>
          serverFrame('push', {
            message_id: messageId, client_id: frame.id, kind: route.kind, from, to: route.label, nonce: nonceB64, ciphertext: ciphertextB64, sent_at: at,
            ...epochFields(sealed.keyEpoch, sealed.sig),
          }),
      });
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw new ProtocolError('E_UNAVAILABLE', 'message not stored: database unavailable; retry with the same id');
      throw error;
    }
    const ack: Ack = { id: frame.id, message_id: stored.messageId, recipients: stored.recipients, duplicate: stored.duplicate, accepted_at: stored.acceptedAt };
    // A duplicate's recipients were settled by its first copy; this attempt's refusals say nothing of them.
    if (full.length > 0 && !stored.duplicate) ack.queue_full = full.flatMap((id) => session.state.byId.get(id)?.pubkey ?? []);
    if (sealed.due && !stored.duplicate) ack.epoch_due = sealed.due;
    return ack;
  }

  /** The ack of this client id's stored message, if there is one; otherwise the refusal stands. */
  private async storedOr(session: LiveSession, frame: SendFrame, refusal: ProtocolError): Promise<Ack> {
    const stored = await this.store.findByClientId(session.member.id, frame.id);
    if (!stored) throw refusal;
    return { id: frame.id, message_id: stored.messageId, recipients: stored.recipients, duplicate: true, accepted_at: stored.acceptedAt };
  }

  /**
   * Drains a session's offline queue in pages, pausing while the socket's buffer is full, then
   * releases the live pushes held meanwhile.
   */
  async drain(session: LiveSession): Promise<void> {
    for (;;) {
      let cursor = session.drainCursor;
      for (;;) {
        const page = await this.store.queued(session.member.id, cursor, DRAIN_PAGE);
        for (const row of page) {
          if (!session.open) break;
          session.pushQueued(String(row.id), queuedFrame(row));
          cursor = BigInt(row.id);
          // Per push, not per page: a page of 500 large messages written at once would pass the
          // slow-consumer limit even for a client that reads as fast as it can.
          while (session.open && session.backlogged) await new Promise((r) => setTimeout(r, 5));
        }
        if (page.length < DRAIN_PAGE || !session.open) break;
      }
      if (!session.heldOverflow) break;
      session.restartDrain();
    }
    session.finishDrain();
  }

  queuedCount(memberId: string): Promise<number> {
    return this.store.queuedCount(memberId);
  }

  /**
   * Delivered/read confirmations from a recipient; batched like sends. They are idempotent and the
   * client cannot tell which frame an E_UNAVAILABLE was for, so while the database is unreachable
   * they are retried (backing off, for ~15 s, while the session lasts) rather than dropped.
   */
  async confirm(session: LiveSession, messageIds: string[], state: 'delivered' | 'read'): Promise<void> {
    for (let delay = CONFIRM_RETRY_FIRST_MS; ; delay *= 2) {
      try {
        await Promise.all(messageIds.map((messageId) => this.receipts.submit({ recipientMemberId: session.member.id, recipientPubkey: session.member.pubkey, messageId, state })));
        this.quota.released(session.member.id);
        return;
      } catch (error) {
        if (!isDatabaseUnavailable(error) || delay > CONFIRM_RETRY_LAST_MS || !session.open) throw error;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async status(session: LiveSession, by: { messageIds?: string[]; clientIds?: string[] }): Promise<ServerFrameMap['message_status_result']['messages']> {
    const found = await this.store.status(session.member.id, by);
    const out = new Map<string, ServerFrameMap['message_status_result']['messages'][number]>();
    for (const row of found) {
      const id = String(row.id);
      let entry = out.get(id);
      if (!entry) {
        entry = { message_id: id, client_id: row.client_id, kind: row.kind, to: row.target, sent_at: row.created_at.getTime(), recipients: [] };
        out.set(id, entry);
      }
      if (row.recipient_member_id === null || row.state === null) continue;
      const member = session.state.byId.get(String(row.recipient_member_id));
      if (!member) continue;
      entry.recipients.push({
        member_pubkey: member.pubkey,
        display_name: member.displayName,
        state: row.state,
        delivered_at: row.delivered_at?.getTime() ?? null,
        read_at: row.read_at?.getTime() ?? null,
      });
    }
    return [...out.values()];
  }

  /** One receipt frame per sender member per commit, however many advances it carries. */
  private publishReceipts(changed: ChangedDelivery[], changes: StateChange[]): void {
    const byKey = new Map(changes.map((c) => [`${c.recipientMemberId}:${c.messageId}:${c.state}`, c]));
    const bySender = new Map<string, ReceiptEntry[]>();
    for (const row of changed) {
      const change = byKey.get(`${row.recipient_member_id}:${row.message_id}:${row.state}`);
      if (!change || !wantsReceipt(row.receipts, row.state)) continue;
      const sender = String(row.sender_member_id);
      let list = bySender.get(sender);
      if (!list) bySender.set(sender, (list = []));
      list.push({ message_id: String(row.message_id), client_id: row.client_id, recipient: change.recipientPubkey, state: change.state, at: row.at.getTime() });
    }
    for (const [sender, receipts] of bySender) this.bus.publish(memberTopic(sender), { kind: 'receipt', frame: serverFrame('receipt', { receipts }) });
  }
}

/** Whether a sender who chose `policy` is told of an advance to `state`. */
function wantsReceipt(policy: ChangedDelivery['receipts'], state: ChangedDelivery['state']): boolean {
  return policy === 'all' || (policy === 'read' && state === 'read');
}

function queuedFrame(row: QueuedRow): string {
  return serverFrame('push', {
    message_id: String(row.id),
    client_id: row.client_id,
    kind: row.kind,
    from: { member_pubkey: row.sender_pubkey, session_pubkey: row.sender_session_pubkey, display_name: row.sender_name },
    to: row.target,
    nonce: row.nonce.toString('base64url'),
    ciphertext: row.ciphertext.toString('base64url'),
    sent_at: row.created_at.getTime(),
    ...epochFields(row.key_epoch, row.sig),
  });
}

/** A body_version 2 message's push carries its epoch and signature; a mesh-key message or DM neither. */
function epochFields(keyEpoch: number | null, sig: string | null): { key_epoch?: number; sig?: string } {
  return keyEpoch !== null && sig !== null ? { key_epoch: Number(keyEpoch), sig } : {};
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)));
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
