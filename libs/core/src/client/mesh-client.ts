import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { BoxKeyCache, MESH_SCOPE, boxEncrypt, generateIdentity, secretboxEncrypt, stateDecrypt, stateEncrypt, utf8Decode, type Identity } from '@claudemesh/crypto';
import { decodeServerFrame } from '../protocol/v1/codec.js';
import { ProtocolError, type EpochRotateDetails, type ErrorCode } from '../protocol/v1/errors.js';
import { LIMITS, kindOfTarget, type PeerStatus, type ReceiptPolicy } from '../protocol/v1/primitives.js';
import type { ClientFrameInput } from '../protocol/v1/client-frames.js';
import type { Capability } from '../protocol/v1/primitives.js';
import type { GrantEntry, PeerInfo, ServerFrame, ServerFrameMap, StateEntry } from '../protocol/v1/server-frames.js';
import { corkedSend } from '../transport/corked-send.js';
import { DeliveredBatcher } from './delivered-batcher.js';
import { PeerKeys } from './peer-keys.js';
import { UnackedSends } from './unacked-sends.js';
import { Backoff } from './backoff.js';
import { newClientId } from './client-id.js';
import { buildHelloFrame } from './hello-frame.js';
import { MeshSealing, UnopenedPushError } from './mesh-sealing.js';
import { openPush } from './open-push.js';
import { SeenSet } from './seen-set.js';
import { AwaitingKey } from './awaiting-key.js';
import { TopicClient, type SealedTopicBody, type TopicHistoryQuery, type TopicPage } from './topic-client.js';
import type { TopicPostResult } from './api-client.js';
import type { TopicMessage } from '../protocol/v1/api.js';
import type { StoredEpochManifest, StoredEpochSeal } from '../protocol/v1/epochs.js';
import type { EpochHistorySeal, EpochSeal, SignedEpochManifest } from '@claudemesh/crypto';
import type { Ack, HelloAck, InboundMessage, MeshClientEvents, MeshClientOptions, MessageStatus, StateValue } from './types.js';

export type { SealedTopicBody, TopicAck, TopicHistoryQuery, TopicPage } from './topic-client.js';
export type { Ack, EpochEvent, HelloAck, InboundMessage, MeshClientEvents, MeshClientOptions, MessageStatus, Receipt, StateValue } from './types.js';

/** One page of a scope's epochs, as getEpochs returns it. */
export interface EpochPage {
  scope: string;
  /** The scope's newest epoch; 0 before its first. */
  currentEpoch: number;
  manifests: StoredEpochManifest[];
  /** This member's seals for the epochs of the page. */
  seals: StoredEpochSeal[];
  /** Members of the current epoch without a seal; only for a member listed in it. */
  missing?: string[];
  /** For a member listed in it: the current epoch lists the wrong members; rotate (docs/protocol.md §5.6). */
  rotate?: EpochRotateDetails;
  hasMore: boolean;
}

interface PendingRequest {
  /** Written again, under the same req_id, when the broker answers E_RATE_LIMITED. */
  frame: string;
  resolve: (frame: ServerFrame) => void;
  reject: (err: Error) => void;
}

/** Errors after which resending the same frame cannot succeed (E_QUEUE_FULL: not until the recipient drains). */
const PERMANENT_SEND_ERRORS = new Set<ErrorCode>([
  'E_UNKNOWN_TARGET', 'E_SCHEMA', 'E_TOO_LARGE', 'E_FORBIDDEN', 'E_BAD_FRAME', 'E_QUEUE_FULL', 'E_EPOCH_STALE', 'E_EPOCH_REQUIRED', 'E_MESSAGE_INVALID',
]);
/** An E_RATE_LIMITED without retry_after_ms (an older broker) waits this long. */
const DEFAULT_RETRY_AFTER_MS = 1_000;
/** Errors that end the session for good: reconnecting would be refused again. */
const TERMINAL_AUTH_ERRORS = new Set<ErrorCode>(['E_NOT_MEMBER', 'E_REVOKED', 'E_UNKNOWN_MESH', 'E_BAD_SIGNATURE']);

/**
 * The claudemesh SDK: one authenticated WebSocket to one mesh. Sends are retried under the same
 * client id until the broker acks them after its durable commit; pushes are decrypted, deduped by
 * message id and confirmed with `delivered`.
 */
export class MeshClient extends EventEmitter<MeshClientEvents> {
  readonly session: Identity = generateIdentity();
  /** The broker keeps one connection's order of an epoch_publish and the sealed sends of its scope (docs/protocol.md §5.6 "Publish order"). */
  readonly ordersPublishes = true;
  private ws: WebSocket | null = null;
  private authenticated = false;
  private closedByUser = false;
  /** Why this client will not connect again (closed, or refused for good), for calls made after. */
  private ended: Error | null = null;
  private readonly endWaiters = new Set<(err: Error) => void>();
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** The broker refused this connection before hello (E_RATE_LIMITED): the reconnect waits at least this. */
  private reconnectNotBeforeMs = 0;
  private resendTimer: NodeJS.Timeout | null = null;
  private readonly unackedSends = new UnackedSends((frame) => this.write(frame), () => this.authenticated);
  private readonly pendingRequests = new Map<string, PendingRequest>();
  private readonly seen = new SeenSet();
  private readonly boxCache: BoxKeyCache;
  private readonly delivered = new DeliveredBatcher((frame) => this.write(frame));
  private reqCounter = 0;
  private readonly peerKeys = new PeerKeys();
  private sendChain: Promise<unknown> = Promise.resolve();
  private firstConnect: { resolve: (ack: HelloAck) => void; reject: (err: Error) => void } | null = null;
  lastHelloAck: HelloAck | null = null;
  /** Pushes of this connection's offline queue still to come; -1 once it is drained (or not connected). */
  private drainLeft = -1;
  private readonly topics = new TopicClient({
    write: (frame) => this.write(frame),
    canWrite: () => this.authenticated,
    history: (topic, q) => this.topicHistory(topic, q),
    self: () => this.memberPubkey,
    emit: (m) => {
      try {
        this.emit('topic', m);
      } catch (error) {
        this.report(error instanceof Error ? error : new Error(String(error)));
      }
    },
  });

  /** `@group` and `*` under the mesh scope's key epochs, when the client holds a keyring. */
  private readonly meshSealing: MeshSealing | null;
  /** Pushes waiting behind one whose epoch key is being fetched: they are handled in arrival order. */
  private pushTail: Promise<void> = Promise.resolve();
  private pushesWaiting = 0;
  /** Pushes under a mesh epoch whose key has not arrived: unconfirmed, tried again at the next epoch push. */
  private readonly awaitingKey = new AwaitingKey();
  /** What setTags last advertised: sent again after each reconnect. */
  private tags: string[] = [];

  constructor(private readonly opts: MeshClientOptions) {
    super();
    this.meshSealing = opts.keyring
      ? new MeshSealing(this, opts.keyring, () => opts.onKeyringChange?.(), () => this.lastHelloAck?.member.role === 'owner' || this.lastHelloAck?.member.role === 'admin')
      : null;
    const ttl = opts.sessionTtlMs;
    // The broker refuses an attestation beyond its maximum at every hello: fail here, not in a reconnect loop.
    if (ttl !== undefined && !(ttl > 0 && ttl <= LIMITS.maxSessionTtlMs)) throw new RangeError(`sessionTtlMs must be within 1…${LIMITS.maxSessionTtlMs} ms (30 days); got ${ttl}`);
    this.backoff = new Backoff(opts.backoff?.initialMs ?? 100, opts.backoff?.maxMs ?? 5_000);
    this.boxCache = new BoxKeyCache(opts.identity);
  }

  get connected(): boolean {
    return this.authenticated;
  }

  get memberPubkey(): string {
    return this.opts.identity.publicKey;
  }

  get meshId(): string {
    return this.opts.meshId;
  }

  /**
   * True once this connection's offline queue (the `queued` pushes after `hello_ack`, protocol §7.5)
   * has reached the 'message' listeners; false while disconnected or still draining.
   */
  get drained(): boolean {
    return this.authenticated && this.drainLeft === -1;
  }

  /**
   * Resolves true when the current (or next) connection has drained its offline queue, false after
   * `timeoutMs` without that. Another session of the same member may confirm some of the queue
   * first, so fewer pushes arrive than announced: then only the timeout ends the wait.
   */
  waitDrained(timeoutMs: number): Promise<boolean> {
    if (this.drained) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.off('drained', onDrained);
        resolve(ok);
      };
      const onDrained = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref();
      this.on('drained', onDrained);
    });
  }

  /** Number of sends still waiting for their ack. */
  get unacked(): number {
    return this.unackedSends.size + this.topics.unackedCount;
  }

  /** Opens the connection and completes the hello handshake. */
  connect(): Promise<HelloAck> {
    this.closedByUser = false;
    this.ended = null;
    return new Promise<HelloAck>((resolve, reject) => {
      this.firstConnect = { resolve, reject };
      this.open();
    });
  }

  async close(): Promise<void> {
    this.closedByUser = true;
    this.end(this.ended ?? new Error('the client was closed'));
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.resendTimer) clearInterval(this.resendTimer);
    this.delivered.flush();
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000, 'client closing');
    });
  }

  /**
   * Encrypts and sends. Resolves with the broker's ack, which comes only after the message is
   * durably stored; survives disconnects by resending under the same client id.
   */
  send(to: string, plaintext: string | Uint8Array, options: { id?: string; receipts?: ReceiptPolicy } = {}): Promise<Ack> {
    if (this.meshSealing && kindOfTarget(to) !== 'dm') {
      const sealing = this.meshSealing;
      const legacy = (id: string): Promise<Ack> => this.prepareSend(id, to, plaintext, options.receipts).then((frame) => this.unackedSends.add(id, frame));
      const sent = this.sendChain.then(() => sealing.send(to, plaintext, options, legacy));
      this.sendChain = sent.catch(() => undefined);
      return sent;
    }
    const id = options.id ?? newClientId();
    const prepared = this.sendChain.then(() => this.prepareSend(id, to, plaintext, options.receipts));
    this.sendChain = prepared.catch(() => undefined);
    return prepared.then((frame) => this.unackedSends.add(id, frame));
  }

  /** Sends a pre-built frame under an explicit client id (tests and tools use it to retry). */
  sendFrame(frame: ClientFrameInput['send']): Promise<Ack> {
    return this.unackedSends.add(frame.id, JSON.stringify(frame));
  }

  /**
   * Derives the box shared keys for these member keys now (about 0.13 ms each), so the first DM
   * to or from each of them does not pay for it.
   */
  prepareKeys(memberPubkeys: Iterable<string>): void {
    for (const key of memberPubkeys) if (key !== this.opts.identity.publicKey) this.boxCache.sharedKey(key);
  }

  async listPeers(): Promise<PeerInfo[]> {
    const frame = await this.request<'peers'>({ type: 'list_peers' });
    this.peerKeys.update(frame.peers);
    return frame.peers;
  }

  async setSummary(summary: string): Promise<void> {
    await this.request<'ok'>({ type: 'set_summary', summary });
  }

  /**
   * The tags this client advertises for tag routing (docs/protocol.md §5.7): the whole set. Kept and
   * advertised again on every reconnect (a new session starts with none).
   */
  async setTags(tags: readonly string[]): Promise<void> {
    this.tags = [...new Set(tags)];
    await this.request<'ok'>({ type: 'set_tags', tags: this.tags });
  }

  async setStatus(status: PeerStatus): Promise<void> {
    await this.request<'ok'>({ type: 'set_status', status });
  }

  async joinGroup(group: string): Promise<void> {
    await this.request<'ok'>({ type: 'join_group', group });
  }

  async leaveGroup(group: string): Promise<void> {
    await this.request<'ok'>({ type: 'leave_group', group });
  }

  async messageStatus(query: { messageIds: string[] } | { clientIds: string[] }): Promise<MessageStatus[]> {
    const frame = await this.request<'message_status_result'>(
      'messageIds' in query
        ? { type: 'message_status', message_ids: query.messageIds }
        : { type: 'message_status', client_ids: query.clientIds },
    );
    return frame.messages;
  }

  /** Sets, in full, what `peer` (a member pubkey) may do to this member (docs/protocol.md §5.5). */
  async setGrants(peer: string, capabilities: Capability[], blocked: boolean): Promise<GrantEntry> {
    const frame = await this.request<'grants'>({ type: 'set_grants', peer, capabilities, blocked });
    return frame.grants[0]!;
  }

  /** This member's grants that differ from the defaults. */
  async listGrants(): Promise<GrantEntry[]> {
    return (await this.request<'grants'>({ type: 'list_grants' })).grants;
  }

  /**
   * Writes a shared-state value (docs/protocol.md §6.4), sealed under the mesh's state key and bound
   * to its slot. `version` is the version this write creates (current + 1; 1 for a new key).
   */
  async stateSet(key: string, value: string | Uint8Array, version: number, owner = this.memberPubkey): Promise<StateValue> {
    if (!this.opts.meshKey) throw new ProtocolError('E_FORBIDDEN', 'this client has no mesh key for shared state');
    const sealed = stateEncrypt(value, this.opts.meshKey, { meshId: this.opts.meshId, owner, key, version });
    const frame = await this.request<'state'>({ type: 'state_set', owner, key, version, nonce: sealed.nonce, ciphertext: sealed.ciphertext });
    return this.openState(frame.entries[0]!);
  }

  /** Reads shared state; an entry that does not open under its slot (tampered, moved) throws. */
  async stateGet(query: { owner?: string; key?: string } = {}): Promise<StateValue[]> {
    const frame = await this.request<'state'>({ type: 'state_get', ...query });
    return frame.entries.map((e) => this.openState(e));
  }

  private openState(e: StateEntry): StateValue {
    if (!this.opts.meshKey) throw new ProtocolError('E_FORBIDDEN', 'this client has no mesh key for shared state');
    const value = stateDecrypt(e, this.opts.meshKey, { meshId: this.opts.meshId, owner: e.owner, key: e.key, version: e.version });
    let text: string;
    try {
      text = utf8Decode(value);
    } catch {
      text = '';
    }
    return { owner: e.owner, key: e.key, version: e.version, value, text, updatedBy: e.updated_by, updatedAt: e.updated_at };
  }

  /**
   * Posts to a topic (docs/topics.md). Resolves with the stored message once `topic_ack` comes,
   * after the broker's commit; resent under the same client id across reconnects until then.
   */
  topicSend(topic: string, text: string, options: { replyTo?: string; id?: string } = {}): Promise<TopicMessage> {
    return this.topics.send(topic, text, options);
  }

  /**
   * Posts a body_version 2 message to an e2e topic, sealed by the caller under `key_epoch` with `id`
   * as its message id (topicSendEncrypted does the sealing, syncing and retrying). Resolves with the
   * stored message, whether it was a duplicate and `epoch_due` when the epoch nears its scheduled
   * rotation. Rejects with E_EPOCH_STALE (err.details.current_epoch) when that is not the topic's
   * current epoch.
   */
  topicSendSealed(topic: string, id: string, body: SealedTopicBody, options: { replyTo?: string } = {}): Promise<TopicPostResult> {
    return this.topics.sendSealed(topic, id, body, options);
  }

  /** A page of a topic's history, oldest first: `before` pages back, `after` catches up. */
  async topicHistory(topic: string, q: TopicHistoryQuery = {}): Promise<TopicPage> {
    const frame = await this.request<'topic_messages'>({ type: 'topic_history', topic, ...q });
    return { messages: frame.messages, has_more: frame.has_more };
  }

  /**
   * Publishes the next epoch of a scope (docs/protocol.md §5.6) with seals for some or all of its
   * members. Rejects with E_EPOCH_CONFLICT (err.details.current_epoch) when another epoch was
   * published first: fetch the chain, build on the current epoch and publish again.
   */
  async publishEpoch(signed: SignedEpochManifest, seals: readonly EpochSeal[] = [], o: { sent?: () => void } = {}): Promise<{ scope: string; epoch: number; manifestHash: string }> {
    const frame = await this.request<'epoch_ack'>({ type: 'epoch_publish', manifest: signed, seals }, o.sent);
    return { scope: frame.scope, epoch: frame.epoch, manifestHash: frame.manifest_hash };
  }

  /**
   * A page of a scope's manifests after `afterEpoch` (oldest first), this member's seals for them
   * and, when it is listed in the current epoch, the members still without a seal. The broker is
   * not trusted: verify the chain (verifyManifestChain) and open seals with openEpochSeal.
   */
  async getEpochs(scope: string, afterEpoch?: number): Promise<EpochPage> {
    const frame = await this.request<'epochs'>({ type: 'epoch_get', scope, ...(afterEpoch !== undefined ? { after_epoch: afterEpoch } : {}) });
    return {
      scope: frame.scope, currentEpoch: frame.current_epoch, manifests: frame.manifests, seals: frame.seals, hasMore: frame.has_more,
      ...(frame.missing !== undefined ? { missing: frame.missing } : {}),
      ...(frame.rotate !== undefined ? { rotate: frame.rotate } : {}),
    };
  }

  /** Seals an existing epoch's key for members that lack it (this member must hold the key and be listed). */
  async addSeals(scope: string, epoch: number, seals: ReadonlyArray<EpochSeal | EpochHistorySeal>): Promise<void> {
    await this.request<'ok'>({ type: 'epoch_seal', scope, epoch, seals });
  }

  /** The highest message id of `topic` seen, and where a reconnect catches up from (see TopicClient). */
  topicCursor(topic: string): string | undefined {
    return this.topics.cursor(topic);
  }

  /** Sets where a reconnect catches `topic` up from, e.g. the last id an application stored. */
  setTopicCursor(topic: string, messageId: string): void {
    this.topics.setCursor(topic, messageId);
  }

  /** Marks messages as read: the agent or human actually consumed them. */
  markRead(messageIds: string[]): void {
    if (messageIds.length > 0) this.write(JSON.stringify({ type: 'read', message_ids: messageIds }));
  }

  /** Sends a raw frame (tests use it for hostile input). */
  sendRaw(data: string | Buffer): void {
    this.ws?.send(data);
  }

  private open(): void {
    const ws = new WebSocket(this.opts.url, { maxPayload: 1024 * 1024, handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000 });
    this.ws = ws;
    this.authenticated = false;
    ws.on('message', (data: WebSocket.RawData) => this.onRaw(ws, data as Buffer));
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
    ws.on('error', (err) => {
      // Tells a reconnecting owner (the daemon) why it is offline, at every failed attempt.
      if (!this.authenticated && ws === this.ws) this.emit('connect_failed', err);
      // 'close' follows; a first connect that cannot open fails fast instead of retrying forever.
      if (this.firstConnect && !this.opts.reconnect) {
        this.firstConnect.reject(err);
        this.firstConnect = null;
      }
    });
  }

  private onRaw(ws: WebSocket, data: Buffer): void {
    const decoded = decodeServerFrame(data);
    if (!decoded.ok) {
      this.report(new ProtocolError(decoded.code, `bad frame from broker: ${decoded.message}`));
      return;
    }
    const frame = decoded.frame;
    switch (frame.type) {
      case 'challenge':
        this.sendHello(ws, frame.nonce);
        break;
      case 'hello_ack':
        this.onHelloAck(frame);
        break;
      case 'ack':
        this.onAck(frame);
        break;
      case 'push':
        this.queuePush(frame);
        break;
      case 'receipt':
        for (const r of frame.receipts) this.emit('receipt', r);
        break;
      case 'topic_ack':
        this.topics.onAck(frame);
        break;
      case 'topic_message':
        this.topics.onPush(frame);
        break;
      case 'error':
        this.onError(ws, frame);
        break;
      case 'epoch_new':
        this.emit('epoch', { scope: frame.scope, epoch: frame.epoch, manifest: frame.manifest, ...(frame.seal ? { seal: frame.seal } : {}) });
        if (frame.scope === MESH_SCOPE) this.retryAwaitingKey();
        break;
      case 'epoch_seal_new':
        this.emit('epoch', { scope: frame.scope, epoch: frame.seal.epoch, seal: frame.seal });
        if (frame.scope === MESH_SCOPE) this.retryAwaitingKey();
        break;
      case 'peers':
      case 'ok':
      case 'message_status_result':
      case 'grants':
      case 'state':
      case 'topic_messages':
      case 'epoch_ack':
      case 'epochs': {
        const pending = this.pendingRequests.get(frame.req_id);
        if (pending) {
          this.pendingRequests.delete(frame.req_id);
          pending.resolve(frame);
        }
        break;
      }
    }
  }

  private sendHello(ws: WebSocket, nonce: string): void {
    const hello = buildHelloFrame({
      meshId: this.opts.meshId,
      member: this.opts.identity,
      session: this.session,
      nonce,
      expiresAt: Date.now() + (this.opts.sessionTtlMs ?? 24 * 3600_000),
      peerType: this.opts.peerType ?? 'ai',
      ...(this.opts.clientName ? { client: this.opts.clientName } : {}),
    });
    ws.send(JSON.stringify(hello));
  }

  private onHelloAck(frame: HelloAck): void {
    this.authenticated = true;
    this.lastHelloAck = frame;
    this.drainLeft = frame.queued;
    this.backoff.reset();
    // Resend everything still unacked, in the order it was first sent.
    this.unackedSends.resendAll();
    this.topics.onConnected((err) => this.report(err));
    if (this.tags.length > 0) this.write(JSON.stringify({ type: 'set_tags', tags: this.tags }));
    this.resendTimer ??= setInterval(() => this.resendStale(), Math.max(250, (this.opts.resendAfterMs ?? 10_000) / 2));
    this.resendTimer.unref();
    this.emit('connected', frame);
    if (this.firstConnect) {
      this.firstConnect.resolve(frame);
      this.firstConnect = null;
    }
    if (this.drainLeft === 0) this.finishDrain(frame.queued);
  }

  /**
   * Counts a push of the offline queue, after its listeners ran. The queue comes first and in
   * order (§7.5), so `queued` pushes after hello_ack cover everything queued at hello time.
   */
  private countDrained(): void {
    if (this.drainLeft <= 0) return;
    this.drainLeft -= 1;
    if (this.drainLeft === 0) this.finishDrain(this.lastHelloAck?.queued ?? 0);
  }

  private finishDrain(queued: number): void {
    this.drainLeft = -1;
    try {
      this.emit('drained', { queued });
    } catch (error) {
      this.report(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Handles a push now, or (when it needs an epoch key the keyring must fetch first, or others wait
   * already) after those before it: listeners see pushes in the order they arrived.
   */
  private queuePush(frame: ServerFrameMap['push']): void {
    const sealing = this.meshSealing;
    if (this.pushesWaiting === 0 && (!sealing || sealing.canOpenNow(frame))) {
      this.onPush(frame);
      this.countDrained();
      return;
    }
    this.pushesWaiting += 1;
    this.pushTail = this.pushTail
      .then(() => sealing?.prepareOpen(frame))
      .then(() => {
        this.onPush(frame);
        this.countDrained();
      })
      .catch((error: unknown) => this.report(error instanceof Error ? error : new Error(String(error))))
      .finally(() => {
        this.pushesWaiting -= 1;
      });
  }

  /** An epoch push of the mesh scope arrived (the application's listener may have fed the keyring): try the held pushes again. */
  private retryAwaitingKey(): void {
    for (const frame of this.awaitingKey.take()) this.queuePush(frame);
  }

  private onAck(frame: Ack): void {
    this.unackedSends.acked(frame);
  }

  /**
   * `delivered` is confirmed only after the 'message' listeners have returned, so a listener that
   * stores the message synchronously (the CLI's local inbox does) has it on disk before the broker
   * hears it arrived. A listener that throws leaves the message unconfirmed and unseen, so the
   * broker pushes it again after a reconnect. Duplicates and undecryptable pushes are confirmed
   * (they would otherwise come back forever), except those waiting for a mesh epoch key this client
   * can still receive: held unconfirmed until an epoch push (AwaitingKey).
   */
  private onPush(frame: ServerFrameMap['push']): void {
    this.peerKeys.rememberSession(frame.from.session_pubkey, frame.from.member_pubkey);
    if (!this.seen.add(frame.message_id)) {
      this.queueDelivered(frame.message_id);
      return;
    }
    if (this.opts.accept && !this.opts.accept({ kind: frame.kind, fromMember: frame.from.member_pubkey })) {
      this.queueDelivered(frame.message_id);
      this.emit('dropped', { messageId: frame.message_id, from: frame.from.member_pubkey, kind: frame.kind });
      return;
    }
    let message: InboundMessage;
    try {
      if (frame.key_epoch !== undefined || frame.sig !== undefined) {
        if (!this.meshSealing) throw new UnopenedPushError('waiting_for_key', 'a message under a mesh key epoch, and this client holds no keyring');
        message = this.meshSealing.open(frame);
      } else {
        message = openPush(frame, this.opts.identity, this.opts.meshKey, this.boxCache);
      }
    } catch (error) {
      const reason = error instanceof UnopenedPushError ? error.reason : 'does_not_open';
      this.emit('decrypt_error', { messageId: frame.message_id, from: frame.from.member_pubkey, error: error as Error, reason });
      // A key that has not arrived yet is not a message lost: held unconfirmed (the broker keeps it
      // queued) and opened when an epoch push brings the key. A client without a keyring never will.
      if (reason === 'waiting_for_key' && this.meshSealing && this.awaitingKey.hold(frame)) {
        this.seen.delete(frame.message_id);
        return;
      }
      this.queueDelivered(frame.message_id);
      return;
    }
    try {
      this.emit('message', message);
    } catch (error) {
      this.seen.delete(frame.message_id);
      this.report(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.queueDelivered(frame.message_id);
  }

  private onError(ws: WebSocket, frame: ServerFrameMap['error']): void {
    const code = frame.code as ErrorCode;
    const err = new ProtocolError(code, frame.message, {
      ...(frame.current_epoch !== undefined ? { current_epoch: frame.current_epoch } : {}),
      ...(frame.rotate !== undefined ? { rotate: frame.rotate } : {}),
    });
    const retryAfterMs = code === 'E_RATE_LIMITED' ? (frame.retry_after_ms ?? DEFAULT_RETRY_AFTER_MS) : undefined;
    if (!this.authenticated && retryAfterMs !== undefined) {
      // Too many connections waiting for hello from here: the close follows, then a later attempt.
      this.reconnectNotBeforeMs = retryAfterMs;
      return;
    }
    if (!this.authenticated && this.firstConnect) {
      this.firstConnect.reject(err);
      this.firstConnect = null;
      this.closedByUser = true;
      ws.close();
      return;
    }
    if (TERMINAL_AUTH_ERRORS.has(code)) {
      this.closedByUser = true;
      this.ended = err;
    }
    const ref = frame.ref;
    if (ref !== undefined) {
      const send = this.unackedSends.has(ref);
      if (this.topics.onError(ref, code, err, retryAfterMs)) return;
      if (send && PERMANENT_SEND_ERRORS.has(code)) {
        this.unackedSends.fail(ref, err);
        return;
      }
      const request = this.pendingRequests.get(ref);
      if (request && retryAfterMs !== undefined) {
        // Asked to slow down: the same request again, once the broker said it may pass.
        setTimeout(() => {
          if (this.pendingRequests.get(ref) === request) this.write(request.frame);
        }, retryAfterMs);
        return;
      }
      if (request) {
        this.pendingRequests.delete(ref);
        request.reject(err);
        return;
      }
      if (send && retryAfterMs !== undefined) {
        this.unackedSends.retryAfter(ref, retryAfterMs);
        return;
      }
      if (send) return; // transient (E_UNAVAILABLE): the resend timer retries
    }
    this.report(err);
  }

  /** Surfaces an error to listeners; without one, an EventEmitter 'error' would throw. */
  private report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    // Never confirmed: the broker pushes them again on the next connection.
    this.awaitingKey.clear();
    const wasAuthenticated = this.authenticated;
    this.authenticated = false;
    this.drainLeft = -1;
    this.ws = null;
    for (const [id, req] of this.pendingRequests) {
      req.reject(new Error(`connection closed before the answer to ${id}`));
    }
    this.pendingRequests.clear();
    this.topics.onDisconnected();
    if (wasAuthenticated) this.emit('disconnected', { code, reason });
    const shouldReconnect = !this.closedByUser && (this.opts.reconnect ?? true);
    if (!shouldReconnect) {
      if (this.firstConnect) {
        this.firstConnect.reject(new Error(`connection closed (${code} ${reason})`));
        this.firstConnect = null;
      }
      this.failPendingSends(new Error('client closed before the broker acknowledged'));
      this.end(this.ended ?? new Error(`the client is closed (${code} ${reason})`));
      return;
    }
    const delay = Math.max(this.backoff.next(), this.reconnectNotBeforeMs);
    this.reconnectNotBeforeMs = 0;
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private failPendingSends(err: Error): void {
    if (!this.closedByUser) return;
    this.unackedSends.failAll(err);
    this.topics.failAll(err);
  }

  private async prepareSend(id: string, to: string, plaintext: string | Uint8Array, receipts: ReceiptPolicy | undefined): Promise<string> {
    const kind = kindOfTarget(to);
    let sealed;
    if (kind === 'dm') {
      const recipient = await this.resolveMemberPubkey(to);
      sealed = boxEncrypt(plaintext, recipient, this.opts.identity, this.boxCache);
    } else {
      if (!this.opts.meshKey) throw new ProtocolError('E_FORBIDDEN', 'this client has no mesh key for group messages');
      sealed = secretboxEncrypt(plaintext, this.opts.meshKey);
    }
    return JSON.stringify({ type: 'send', id, to, nonce: sealed.nonce, ciphertext: sealed.ciphertext, ...(receipts ? { receipts } : {}) });
  }

  /** Names and session keys resolve to the member key the DM is encrypted for. */
  private async resolveMemberPubkey(target: string): Promise<string> {
    const known = this.peerKeys.memberOf(target) ?? (/^[0-9a-f]{64}$/.test(target) ? this.opts.sessionMember?.(target) : undefined);
    if (known) return this.encryptableTo(target, known);
    await this.waitConnected();
    await this.listPeers();
    const listed = this.peerKeys.memberOf(target, true);
    if (listed) return this.encryptableTo(target, listed);
    if (/^[0-9a-f]{64}$/.test(target)) return target;
    throw new ProtocolError('E_UNKNOWN_TARGET', `no peer named ${target} in this mesh`);
  }

  /** A REST-only human's key is a placeholder nobody holds the secret of: never box a DM to it (§6.1). */
  private encryptableTo(target: string, memberPubkey: string): string {
    if (this.peerKeys.restOnly(target) || this.peerKeys.restOnly(memberPubkey)) {
      throw new ProtocolError('E_FORBIDDEN', `${target} is a REST-only member: nothing can be encrypted to it; write to it in a topic`);
    }
    return memberPubkey;
  }

  /** Resolves once authenticated; rejects at once, or as soon as it is known, when the client will not connect again. */
  private waitConnected(): Promise<void> {
    if (this.authenticated) return Promise.resolve();
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const onEnded = (err: Error): void => {
        this.off('connected', onConnected);
        reject(err);
      };
      const onConnected = (): void => {
        this.endWaiters.delete(onEnded);
        resolve();
      };
      this.once('connected', onConnected);
      this.endWaiters.add(onEnded);
    });
  }

  /** The client stops for good: calls waiting for a connection fail with `err`, and later ones at once. */
  private end(err: Error): void {
    this.ended = err;
    for (const waiter of this.endWaiters) waiter(err);
    this.endWaiters.clear();
  }

  private resendStale(): void {
    if (!this.authenticated) return;
    this.unackedSends.resendOlderThan(Date.now() - (this.opts.resendAfterMs ?? 10_000));
    this.topics.resendOlderThan(Date.now() - (this.opts.resendAfterMs ?? 10_000));
  }

  private async request<K extends 'peers' | 'ok' | 'message_status_result' | 'grants' | 'state' | 'topic_messages' | 'epoch_ack' | 'epochs'>(
    frame: Record<string, unknown>,
    /** Called right after the frame is handed to the socket (what is written after it follows it). */
    written?: () => void,
  ): Promise<ServerFrameMap[K]> {
    await this.waitConnected();
    const reqId = `r${++this.reqCounter}`;
    const data = JSON.stringify({ ...frame, req_id: reqId });
    return new Promise<ServerFrameMap[K]>((resolve, reject) => {
      this.pendingRequests.set(reqId, { frame: data, resolve: resolve as (f: ServerFrame) => void, reject });
      this.write(data);
      written?.();
    });
  }

  private queueDelivered(messageId: string): void {
    if (this.opts.autoDelivered !== false) this.delivered.queue(messageId);
  }

  /** Confirms receipt explicitly (when autoDelivered is false). */
  confirmDelivered(messageIds: string[]): void {
    this.delivered.flush(messageIds);
  }

  private write(data: string): void {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) corkedSend(this.ws, data);
  }
}
