import { Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import { LIMITS, ProtocolError, TOPIC_LIMITS, decodeClientFrame, serverFrame, type ClientFrame, type ClientFrameMap, type ErrorCode, type TopicMessage } from '@claudemesh/core';
import { randomId, topicScope as epochScopeOf } from '@claudemesh/crypto';
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type WebSocket from 'ws';
import type { BusEvent } from '../bus/bus.js';
import type { Connection } from './connection.js';
import { isDatabaseUnavailable } from '../common/protocol-exception.filter.js';
import { ApiKeysService } from '../apikeys/api-keys.service.js';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { EpochsService } from '../epochs/epochs.service.js';
import { GrantsService } from '../grants/grants.service.js';
import { SharedStateService } from '../grants/shared-state.service.js';
import { HelloVerifier } from '../identity/hello.verifier.js';
import { logContext, type LogContext } from '../logging/log-context.js';
import { InboundGate } from '../limits/inbound-gate.js';
import type { LimitSettings } from '../limits/limits.config.js';
import { Outbound } from '../limits/outbound.js';
import { PREAUTH_RETRY_AFTER_MS, PreAuthBudget, PreAuthTracker } from '../limits/preauth.js';
import { COSTLY_FRAMES, NEVER_REFUSED, RateLimiter } from '../limits/rate-limiter.js';
import { requireScope, topicInScope } from '../meshes/member-scope.js';
import type { MemberRecord } from '../meshes/mesh-directory.js';
import { MeshesService } from '../meshes/meshes.service.js';
import { MessagingService } from '../messaging/messaging.service.js';
import { BrokerMetrics } from '../metrics/broker-metrics.js';
import { atDeadline } from '../presence/deadline-timer.js';
import { LiveSession } from '../presence/live-session.js';
import { scopeOrderOf } from './scope-order.js';
import { PresenceService } from '../presence/presence.service.js';
import { TopicsService, type TopicPost, type TopicScope } from '../topics/topics.service.js';

const refOf = (frame: ClientFrame): string | undefined => ('req_id' in frame ? frame.req_id : 'id' in frame ? frame.id : undefined);

/** Frames above the soft limit get E_TOO_LARGE and the connection lives; above this hard cap ws closes it (1009). */
export const HARD_MAX_PAYLOAD = 4 * LIMITS.maxFrameBytes;

/** The WebSocket edge: decode, authenticate, dispatch to services, encode. No business logic here. */
@WebSocketGateway({ path: '/ws', maxPayload: HARD_MAX_PAYLOAD })
export class MeshGateway implements OnGatewayConnection, OnModuleDestroy {
  private readonly logger = new Logger('Gateway');
  private readonly connections = new Set<Connection>();
  private readonly limits: LimitSettings;

  constructor(
    private readonly hello: HelloVerifier,
    private readonly meshes: MeshesService,
    private readonly messaging: MessagingService,
    private readonly presence: PresenceService,
    private readonly grants: GrantsService,
    private readonly apiKeys: ApiKeysService,
    private readonly sharedState: SharedStateService,
    private readonly topics: TopicsService,
    private readonly epochs: EpochsService,
    private readonly rateLimiter: RateLimiter,
    private readonly preauthTracker: PreAuthTracker,
    @Inject(BROKER_CONFIG) config: BrokerConfig,
    private readonly metrics: BrokerMetrics,
  ) {
    this.limits = config.limits;
    metrics.source('ws_connections', () => presence.connectionCount);
    metrics.sessionsBy(() => presence.sessionsByMesh());
  }

  handleConnection(ws: WebSocket, request: IncomingMessage): void {
    const log: LogContext = { conn_id: randomBytes(4).toString('hex') };
    logContext.run(log, () => this.onConnection(ws, request, log));
  }

  private onConnection(ws: WebSocket, request: IncomingMessage, log: LogContext): void {
    ws.on('error', () => undefined);
    this.logger.debug('ws connect');
    // Refusals written to this connection are counted by its mesh once hello completed.
    const owner: { conn?: Connection } = {};
    const out = new Outbound(ws, this.limits.outboundBytes, this.limits.slowConsumerGraceMs, this.metrics.meterFor(() => owner.conn?.session?.meshId));
    const ip = request.socket.remoteAddress ?? '';
    if (!this.preauthTracker.open(ip)) {
      out.write(serverFrame('error', { code: 'E_RATE_LIMITED', message: 'too many connections from this address are waiting for hello; retry later', retry_after_ms: PREAUTH_RETRY_AFTER_MS }));
      out.close(4001, 'E_RATE_LIMITED');
      this.logger.debug('ws refused: too many connections from this address are waiting for hello');
      return;
    }
    const helloTimeoutMs = this.limits.helloTimeoutMs;
    const conn: Connection = {
      ws,
      out,
      inbound: new InboundGate(ws, this.limits.maxInFlight, (data, isBinary) => logContext.run(log, () => this.onMessage(conn, data, isBinary))),
      rates: this.rateLimiter.forConnection(),
      ip,
      preauth: new PreAuthBudget(this.limits),
      challenge: randomId(),
      session: null,
      helloPending: false,
      helloTimer: setTimeout(() => this.fail(conn, 'E_NOT_AUTHENTICATED', `no hello within ${helloTimeoutMs / 1000} s`), helloTimeoutMs),
      log,
      openedAt: Date.now(),
    };
    owner.conn = conn;
    this.connections.add(conn);
    ws.on('message', (data: Buffer, isBinary: boolean) => conn.inbound.push(data, isBinary));
    ws.on('close', (code: number) => logContext.run(log, () => this.onClose(conn, code)));
    out.write(serverFrame('challenge', { v: 1, nonce: conn.challenge!, server_time: Date.now() }));
  }

  onModuleDestroy(): void {
    for (const conn of this.connections) conn.ws.terminate();
  }

  private async onMessage(conn: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    // A connection the broker is closing (revoked, expired, slow) does nothing more, whatever still arrives.
    if (!conn.out.open) return;
    const overPreauth = conn.preauth?.exceeded(data.length);
    if (overPreauth) {
      this.fail(conn, 'E_NOT_AUTHENTICATED', `${overPreauth}; reconnect and send hello first`);
      return;
    }
    const decoded = decodeClientFrame(isBinary ? data : data.toString('utf8'));
    this.metrics.frameIn(decoded.ok ? decoded.frame.type : undefined);
    const ref = decoded.ok ? refOf(decoded.frame) : decoded.ref;
    if (conn.session && !this.admitRate(conn, conn.session, data.length, decoded.ok ? decoded.frame : null, ref)) return;
    if (!decoded.ok) {
      this.error(conn, decoded.code, decoded.message, decoded.ref);
      return;
    }
    const frame = decoded.frame;
    try {
      if (frame.type === 'hello') await this.onHello(conn, frame);
      else if (!conn.session) this.error(conn, 'E_NOT_AUTHENTICATED', `${frame.type} needs a completed hello`, ref);
      else await this.dispatch(conn.session, frame);
    } catch (error) {
      // A hello that fails for any reason ends the connection: its challenge is spent. That
      // includes a failure after verification (queued count, drain): the session would otherwise
      // stay registered without hello_ack, or with its drain stopped and live pushes held forever.
      const failedHello = frame.type === 'hello' && !(error instanceof ProtocolError && error.code === 'E_ALREADY_AUTHENTICATED');
      if (error instanceof ProtocolError) {
        if (error.fatal || failedHello) this.fail(conn, error.code, error.message);
        else this.error(conn, error.code, error.message, ref, error.details);
        return;
      }
      const code: ErrorCode = isDatabaseUnavailable(error) ? 'E_UNAVAILABLE' : 'E_INTERNAL';
      if (code === 'E_INTERNAL') this.logger.error((error as Error).stack ?? String(error));
      if (failedHello) this.fail(conn, code, 'hello could not complete; reconnect');
      else this.error(conn, code, code === 'E_UNAVAILABLE' ? 'database unavailable; retry' : 'internal error', ref);
    }
  }

  private async onHello(conn: Connection, frame: ClientFrameMap['hello']): Promise<void> {
    if (conn.session || conn.helloPending) throw new ProtocolError('E_ALREADY_AUTHENTICATED', 'this connection already sent hello');
    conn.helloPending = true;
    const challenge = conn.challenge;
    conn.challenge = null; // single use, whatever the outcome
    const { state, member } = await this.hello.verify(frame, challenge);
    clearTimeout(conn.helloTimer);
    if (!conn.out.open) return;
    const session = new LiveSession(randomUUID(), conn.out, state, member, frame.session_pubkey, frame.peer_type);
    this.endPreauth(conn);
    this.presence.register(session, (event) => this.onBusEvent(session, event));
    // A revocation sets `revoked` and publishes its bus event in one synchronous step, so a hello
    // verified before it and registered after it would miss both: look again now that it listens.
    if (member.revoked) {
      this.presence.unregister(session);
      throw new ProtocolError('E_REVOKED', 'the member has been revoked');
    }
    conn.session = session;
    conn.log.member_id = member.id;
    conn.log.mesh_id = state.mesh.id;
    this.logger.debug(`ws hello: ${frame.peer_type} session ${session.id}`);
    const queued = await this.messaging.queuedCount(member.id);
    session.acknowledge(
      serverFrame('hello_ack', {
        v: 1,
        session_id: session.id,
        mesh_id: state.mesh.id,
        member: { member_pubkey: member.pubkey, display_name: member.displayName, role: member.role, peer_type: member.peerType },
        queued,
        server_time: Date.now(),
        max_frame_bytes: LIMITS.maxFrameBytes,
      }),
    );
    // The attestation bounds the session's life: at expiry the client reconnects with a fresh one.
    session.cancelExpiry = atDeadline(frame.session_expires_at, () => session.fail('E_SESSION_EXPIRED', 'session attestation expired; reconnect'));
    await this.messaging.drain(session);
  }

  private async dispatch(session: LiveSession, frame: Exclude<ClientFrame, ClientFrameMap['hello']>): Promise<void> {
    if (session.member.scope) this.checkScope(session.member, frame);
    switch (frame.type) {
      case 'send': {
        const ack = frame.body_version === 2
          ? await scopeOrderOf(session).send('mesh', frame.key_epoch!, () => this.messaging.send(session, frame))
          : await this.messaging.send(session, frame);
        session.send(serverFrame('ack', ack));
        return;
      }
      case 'delivered':
      case 'read':
        await this.messaging.confirm(session, frame.message_ids, frame.type);
        return;
      case 'list_peers':
        session.send(serverFrame('peers', { req_id: frame.req_id, peers: await this.peersWithRest(session) }));
        return;
      case 'set_summary':
        session.summary = frame.summary;
        break;
      case 'set_tags':
        session.tags = [...frame.tags].sort();
        break;
      case 'set_status':
        session.status = frame.status;
        break;
      case 'join_group':
        await this.meshes.joinGroup(session.state, session.member.id, frame.group);
        break;
      case 'leave_group':
        await this.meshes.leaveGroup(session.state, session.member.id, frame.group);
        break;
      case 'set_grants': {
        const grant = await this.grants.set(session.state, session.member, frame);
        session.send(serverFrame('grants', { req_id: frame.req_id, grants: [grant] }));
        return;
      }
      case 'list_grants':
        session.send(serverFrame('grants', { req_id: frame.req_id, grants: this.grants.list(session.state, session.member) }));
        return;
      case 'state_set': {
        const entry = await this.sharedState.set(session.state, session.member, frame);
        session.send(serverFrame('state', { req_id: frame.req_id, entries: [entry] }));
        return;
      }
      case 'state_get':
        session.send(serverFrame('state', { req_id: frame.req_id, entries: await this.sharedState.get(session.state, session.member, frame) }));
        return;
      case 'topic_send': {
        const reply = frame.reply_to !== undefined ? { reply_to: frame.reply_to } : {};
        const body: TopicPost = frame.body_version === 2
          ? {
            body_version: 2, key_epoch: frame.key_epoch!, nonce: frame.nonce!, ciphertext: frame.ciphertext!, sig: frame.sig!, mentions: frame.mentions ?? [],
            client_id: frame.id, ...reply,
          }
          : { text: frame.text!, client_id: frame.id, ...reply };
        const post = (): ReturnType<TopicsService['post']> => this.topics.post(this.topicScope(session), frame.topic, body);
        const { message, duplicate, epoch_due } = frame.body_version === 2 ? await scopeOrderOf(session).send(epochScopeOf(frame.topic), frame.key_epoch!, post) : await post();
        session.send(serverFrame('topic_ack', { id: frame.id, topic: frame.topic, message, duplicate, ...(epoch_due ? { epoch_due } : {}) }));
        return;
      }
      case 'topic_history': {
        const q = { limit: frame.limit ?? TOPIC_LIMITS.defaultHistoryPage, ...(frame.before !== undefined ? { before: frame.before } : {}), ...(frame.after !== undefined ? { after: frame.after } : {}) };
        const page = await this.topics.history(this.topicScope(session), frame.topic, q);
        session.send(serverFrame('topic_messages', { req_id: frame.req_id, topic: frame.topic, ...page }));
        return;
      }
      case 'epoch_publish': {
        const m = frame.manifest.manifest;
        const ack = await scopeOrderOf(session).publish(m.scope, m.epoch, () => this.epochs.publish(session, frame));
        session.send(serverFrame('epoch_ack', { req_id: frame.req_id, ...ack }));
        return;
      }
      case 'epoch_get': {
        const answer = await this.epochs.get(session, frame.scope, frame.after_epoch);
        session.send(serverFrame('epochs', { req_id: frame.req_id, ...answer }));
        return;
      }
      case 'epoch_seal':
        await this.epochs.seal(session, frame);
        break;
      case 'message_status': {
        const messages = await this.messaging.status(session, {
          ...(frame.message_ids ? { messageIds: frame.message_ids } : {}),
          ...(frame.client_ids ? { clientIds: frame.client_ids } : {}),
        });
        session.send(serverFrame('message_status_result', { req_id: frame.req_id, messages }));
        return;
      }
    }
    if (frame.req_id !== undefined) session.send(serverFrame('ok', { req_id: frame.req_id }));
  }

  /** A WebSocket session speaks for its whole member: no key limits it, only the member's own scope. */
  private topicScope(session: LiveSession): TopicScope {
    return { state: session.state, member: session.member, topics: session.member.scope?.topics ?? null, joined: session.joinedTopics };
  }

  /**
   * A confined member's frames (docs/protocol.md §8.3 "MemberScope"): each needs a capability of its
   * scope, and a topic frame a topic of it. Presence, grants, receipts and its own messages' status
   * need none: they are part of being a peer at all.
   */
  private checkScope(member: MemberRecord, frame: Exclude<ClientFrame, ClientFrameMap['hello']>): void {
    const topicOf = (scope: string): string | undefined => (scope.startsWith('topic:') ? scope.slice(6) : undefined);
    switch (frame.type) {
      case 'send':
      case 'state_set':
        return requireScope(member, 'send');
      case 'state_get':
      case 'join_group':
      case 'leave_group':
        return requireScope(member, 'read');
      case 'topic_send':
        return requireScope(member, 'send', frame.topic);
      case 'topic_history':
        return requireScope(member, 'read', frame.topic);
      case 'epoch_publish':
        return requireScope(member, 'send', topicOf(frame.manifest.manifest.scope));
      case 'epoch_seal':
        return requireScope(member, 'send', topicOf(frame.scope));
      case 'epoch_get':
        return requireScope(member, 'read', topicOf(frame.scope));
      default:
        return undefined;
    }
  }

  /**
   * Presence as `peers` shows it: WebSocket sessions, and members (humans with only an API key,
   * above all) whose key was used in the last 5 minutes, as `online` with `rest_active`.
   */
  private async peersWithRest(session: LiveSession): Promise<ReturnType<PresenceService['peers']>> {
    const peers = this.presence.peers(session.state, session.member);
    const rest = await this.apiKeys.restActivity(session.state.mesh.id);
    if (rest.size === 0) return peers;
    return peers.map((p) => {
      const m = session.state.byPubkey.get(p.member_pubkey)!;
      if (!rest.has(m.id) || !session.state.allows(m.id, session.member.id, 'read')) return p;
      return { ...p, online: true, rest_active: true };
    });
  }

  private onBusEvent(session: LiveSession, event: BusEvent): void {
    if (event.kind === 'push') session.pushLive(event.messageId, event.frame);
    else if (event.kind === 'receipt') session.pushControl(event.frame);
    // Topic messages are not delivery-tracked: the history is their log (topic_history after=…).
    else if (event.kind === 'topic') {
      if (topicInScope(session.member, event.message.topic)) session.pushControl(topicMessageFrame(event.message));
    }
    else if (event.kind === 'control') session.pushControl(event.frame);
    else if (event.kind === 'revoked') session.fail('E_REVOKED', 'this member has been revoked', 4003);
    else if (event.kind === 'topic_left') session.joinedTopics.forget(event.topicId);
  }

  /**
   * Per-connection and per-member token buckets (docs/protocol.md §1.2). A refused frame gets
   * E_RATE_LIMITED with the wait, and the connection is not read until then.
   */
  private admitRate(conn: Connection, session: LiveSession, bytes: number, frame: ClientFrame | null, ref: string | undefined): boolean {
    const wait = this.rateLimiter.admit(conn.rates, session.member.id, {
      bytes,
      costly: frame !== null && COSTLY_FRAMES.has(frame.type),
      force: frame !== null && NEVER_REFUSED.has(frame.type),
    });
    if (wait === 0) return true;
    conn.inbound.hold(wait);
    const message = `rate limit reached; send this frame again in ${wait} ms`;
    conn.out.write(serverFrame('error', { code: 'E_RATE_LIMITED', message, ...(ref !== undefined ? { ref } : {}), retry_after_ms: wait }));
    return false;
  }

  /** Hello completed, or the connection ended before it: its address gets its pre-hello slot back. */
  private endPreauth(conn: Connection): void {
    if (!conn.preauth) return;
    conn.preauth = null;
    this.preauthTracker.release(conn.ip);
  }

  private onClose(conn: Connection, code: number): void {
    this.logger.debug(`ws close ${code} after ${Date.now() - conn.openedAt} ms${conn.session ? '' : ' (no hello)'}`);
    clearTimeout(conn.helloTimer);
    conn.inbound.close();
    this.endPreauth(conn);
    this.connections.delete(conn);
    if (conn.session) {
      conn.session.cancelExpiry();
      this.presence.unregister(conn.session);
    }
  }

  private error(conn: Connection, code: ErrorCode, message: string, ref?: string, details: ProtocolError['details'] = {}): void {
    conn.out.write(serverFrame('error', { code, message, ...(ref !== undefined ? { ref } : {}), ...details }));
  }

  private fail(conn: Connection, code: ErrorCode, message: string): void {
    this.logger.debug(`ws fail ${code}: ${message}`);
    conn.out.fail(code, message, 4001);
  }
}

/**
 * A topic message's push, encoded once however many sessions it goes to: the bus hands every
 * member's subscription the same message object (in-process), so a fan-out to 100 members
 * serialises it once rather than 100 times.
 */
const topicFrames = new WeakMap<TopicMessage, string>();
function topicMessageFrame(message: TopicMessage): string {
  let frame = topicFrames.get(message);
  if (frame === undefined) {
    frame = serverFrame('topic_message', { topic: message.topic, message });
    topicFrames.set(message, frame);
  }
  return frame;
}
