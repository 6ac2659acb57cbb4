import { meshClientFor } from '../mesh-client-for.js';
import { MeshClient, ProtocolError, claudemeshHome, loadMeshes, type Ack, type PeerInfo, type PeerStatus, type StoredMesh } from '@claudemesh/core';
import { cryptoReady } from '@claudemesh/crypto';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { writePresenceCache } from '../claude/presence-cache.js';
import { EXIT, exitCodeOf } from '../exit-codes.js';
import { answerKeyRequests, canHandOver } from '../handoff.js';
import { netCause } from '../net-cause.js';
import { isNameTarget } from '../peer-names.js';
import { LocalStore, type LocalMessage } from '../store/local-store.js';
import { DEFAULT_INBOX_DRAIN_WAIT_MS } from './inbox-wait.js';
import { EpochKeeper, resealIntervalMs } from './epoch-keeper.js';
import { checkSendTarget } from '../verified-check.js';
import { MAX_SOCKET_PATH, daemonPaths } from './paths.js';
import { readPeersCache, writePeersCache, type PeersSnapshot } from './peers-cache.js';
import { DaemonRequest, LineReader, type DaemonAnswer, type DaemonErrorBody } from './protocol.js';
import { safeLine } from '../terminal-text.js';
import { SessionTags } from '../tags/session-tags.js';
import { TagFileError } from '../tags/tag-file.js';

/** Errors after which resending the same message cannot succeed: it leaves the outbox. */
const PERMANENT = new Set(['E_UNKNOWN_TARGET', 'E_SCHEMA', 'E_TOO_LARGE', 'E_FORBIDDEN', 'E_BAD_FRAME', 'E_QUEUE_FULL']);
const DEFAULT_SEND_WAIT_MS = 8_000;
const WATCHDOG_MS = 2_000;
/** How long a request through the daemon waits for the broker before the CLI hears why not. */
const BROKER_ANSWER_MS = 10_000;
/**
 * A lost connection that has not come back within this long counts as unreachable even when no
 * attempt has failed yet (a broker host that drops packets makes attempts hang, not fail).
 */
const UNREACHABLE_AFTER_MS = Number(process.env['CLAUDEMESH_UNREACHABLE_AFTER_MS']) || 3_000;
/** How long a request waits for a link that is still making its first connection (a daemon just started). */
const FIRST_CONNECT_GRACE_MS = 1_500;
/** Within the status line's 60 s cache lifetime. */
const PRESENCE_REFRESH_MS = 30_000;
/** How often an owner's or admin's daemon hands the mesh key to members its email invites admitted (§9c). */
const HANDOFF_MS = Number(process.env['CLAUDEMESH_HANDOFF_INTERVAL_MS']) || 30_000;

class DaemonError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * Where a mesh's connection stands, as `daemon status` and every answer report it: `connecting`
 * (first attempt, or a connection just lost), `connected`, `unreachable` (attempts fail: refused,
 * DNS, TLS, timeout — `cause` says which) or `refused` (the broker turned this member away).
 */
export type LinkState = 'connecting' | 'connected' | 'unreachable' | 'refused';

/** Hello refusals after which the SDK stops reconnecting. */
const REFUSALS = new Set(['E_NOT_MEMBER', 'E_REVOKED', 'E_UNKNOWN_MESH', 'E_BAD_SIGNATURE']);

/** One joined mesh: a warm, reconnecting connection plus what this member wants its sessions to show. */
class MeshLink {
  readonly client: MeshClient;
  private presenceTimer: NodeJS.Timeout | null = null;
  private handoffTimer: NodeJS.Timeout | null = null;
  private resealTimer: NodeJS.Timeout | null = null;
  /** Keeps the mesh's keyring and seals epoch keys for listed members that lack them. */
  readonly keeper: EpochKeeper;
  /** The tags of tags.json on this session (no derived repo: tag: the daemon serves every workspace). */
  readonly tags: SessionTags;
  private lostTimer: NodeJS.Timeout | null = null;
  private handingOver = false;
  status: PeerStatus | null = null;
  summary: string | null = null;
  state: LinkState = 'connecting';
  /** Why the link is not connected (null while connected or on its first attempt). */
  cause: string | null = null;
  code: string | undefined;
  since = Date.now();
  /** The last member list the broker gave (also read back from the cache after a restart). */
  private snapshot: PeersSnapshot | null;
  private readonly stateListeners = new Set<() => void>();
  /** Read marks made while offline; the broker hears them on the next connection. */
  private readonly unsentReads = new Set<string>();
  /** Whether some connection of this link has drained the broker's offline queue into the local inbox. */
  private everDrained = false;
  /** Outbox entries handed to the SDK in this process (it resends them itself until acked). */
  private readonly inFlight = new Map<string, Promise<Ack>>();

  constructor(
    readonly mesh: StoredMesh,
    private readonly home: string,
    private readonly store: LocalStore,
    private readonly onMessage: (meshId: string, m: LocalMessage) => void,
    private readonly log: (line: string) => void,
  ) {
    this.snapshot = readPeersCache(home, mesh.mesh_id);
    this.client = meshClientFor(mesh, { reconnect: true, clientName: 'claudemesh-daemon', history: store });
    // What this member last set survives a daemon restart: it is re-applied on every connect below.
    ({ status: this.status, summary: this.summary } = store.selfPresence(mesh.mesh_id));
    this.keeper = new EpochKeeper(mesh, home, this.client, log);
    this.tags = new SessionTags(home, mesh.mesh_id, this.client, null, (line) => log(`${mesh.mesh_name}: ${line}`));
    this.client.on('epoch', (e) => this.keeper.onEpoch(e));
    this.client.on('topic', (m) => {
      if (m.body_version === 2) this.keeper.onSealedTopicMessage(m.topic);
    });
    this.client.on('drained', ({ queued }) => {
      this.everDrained = true;
      if (queued > 0) this.log(`${mesh.mesh_name}: ${queued} queued message${queued === 1 ? '' : 's'} now in the local inbox`);
    });
    // Stored before the SDK confirms `delivered` (it confirms after listeners return).
    this.client.on('message', (m) => {
      if (this.store.addInbound(mesh.mesh_id, m)) {
        const stored = this.store.get(mesh.mesh_id, m.messageId);
        if (stored) this.onMessage(mesh.mesh_id, stored);
      }
    });
    this.client.on('connected', () => {
      this.setState('connected', null);
      void this.refreshPresence();
      void this.handOver();
      this.keeper.sweep();
      if (this.status) void this.client.setStatus(this.status).catch(() => undefined);
      if (this.summary !== null) void this.client.setSummary(this.summary).catch(() => undefined);
      if (this.unsentReads.size > 0) {
        this.client.markRead([...this.unsentReads]);
        this.unsentReads.clear();
      }
    });
    this.client.on('disconnected', ({ code, reason }) => {
      this.setState('connecting', `connection to ${mesh.broker_url} lost (${code}${reason ? ` ${reason}` : ''})`);
      if (this.lostTimer) clearTimeout(this.lostTimer);
      this.lostTimer = setTimeout(() => {
        if (this.state === 'connecting') this.setState('unreachable', `no connection to ${mesh.broker_url} for ${UNREACHABLE_AFTER_MS / 1000} s`);
      }, UNREACHABLE_AFTER_MS);
      this.lostTimer.unref();
    });
    this.client.on('connect_failed', (e) => {
      if (this.state !== 'refused') this.setState('unreachable', netCause(e, mesh.broker_url)?.text ?? `${e.message} (${mesh.broker_url})`);
    });
    this.client.on('error', (e) => {
      this.log(`${mesh.mesh_name}: ${e.message}`);
      if (e instanceof ProtocolError && REFUSALS.has(e.code)) this.refuse(e);
    });
  }

  private refuse(e: ProtocolError): void {
    this.code = e.code;
    this.setState('refused', `the broker at ${this.mesh.broker_url} refuses this member: ${e.message} [${e.code}]`);
  }

  private setState(state: LinkState, cause: string | null): void {
    const changed = state !== this.state || cause !== this.cause;
    if (state !== this.state) this.since = Date.now();
    this.state = state;
    this.cause = cause;
    if (!changed) return;
    this.log(`${this.mesh.mesh_name}: ${state}${cause ? ` (${cause})` : ''}`);
    // The status line must not show the last online count once the broker is gone.
    if (state === 'unreachable' || state === 'refused') this.writeOffline();
    for (const listener of [...this.stateListeners]) listener();
  }

  private writeOffline(): void {
    try {
      writePresenceCache(this.home, this.mesh.mesh_id, { mesh_name: this.mesh.mesh_name, online: 0, total: this.snapshot?.peers.length ?? 0, offline: this.cause ?? this.state });
    } catch (error) {
      this.log(`${this.mesh.mesh_name}: presence cache not written: ${(error as Error).message}`);
    }
  }

  /** Resolves when the state next changes, or after `ms`. */
  private changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.stateListeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.stateListeners.add(done);
    });
  }

  /** Waits (up to `ms`) for a link still on its first attempt to connect or fail; then answers at once. */
  async settled(ms = FIRST_CONNECT_GRACE_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.state === 'connecting' && this.cause === null && Date.now() < deadline) await this.changed(deadline - Date.now());
  }

  /** Resolves when the link stops being connected (to answer a waiting send at once), or after `ms`. */
  async lost(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.state === 'connected' && Date.now() < deadline) await this.changed(deadline - Date.now());
  }

  get connected(): boolean {
    return this.state === 'connected' && this.client.connected;
  }

  /** The member list from the broker (kept as the snapshot), or the snapshot marked stale when unreachable. */
  async peers(): Promise<{ peers: PeerInfo[]; stale: { at: number; cause: string } | null }> {
    await this.settled();
    if (this.connected) {
      try {
        return { peers: await this.listFresh(), stale: null };
      } catch (error) {
        if (this.connected || !this.snapshot) throw error;
      }
    }
    if (this.state === 'refused') throw this.refusal();
    if (!this.snapshot) throw this.unreachable('no member list was seen yet');
    return { peers: this.snapshot.peers, stale: { at: this.snapshot.at, cause: this.cause ?? 'no connection yet' } };
  }

  /** Lists members at the broker (within the answer budget) and keeps the list. */
  private async listFresh(): Promise<PeerInfo[]> {
    const peers = await answered(this, (c) => c.listPeers());
    this.snapshot = { peers, at: Date.now() };
    try {
      writePeersCache(this.home, this.mesh.mesh_id, this.snapshot);
    } catch (error) {
      this.log(`${this.mesh.mesh_name}: member list cache not written: ${(error as Error).message}`);
    }
    return peers;
  }

  /**
   * The list a send checks its target against: the snapshot when it already has the name and no
   * verified key rides on it, else a fresh one while connected (a key change must not hide behind
   * a cache), else the snapshot marked stale, or null when none was ever seen.
   */
  async targetList(to: string, verified: boolean): Promise<{ peers: PeerInfo[]; stale: boolean } | null> {
    if (this.connected) {
      if (this.snapshot && !verified && this.snapshot.peers.some((p) => p.display_name === to)) return { peers: this.snapshot.peers, stale: false };
      try {
        return { peers: await this.listFresh(), stale: false };
      } catch {
        // lost meanwhile: fall back to what we saw last
      }
    }
    return this.snapshot ? { peers: this.snapshot.peers, stale: true } : null;
  }

  /** The error for a request that needs the broker right now. */
  unreachable(what: string): DaemonError {
    if (this.state === 'refused') return this.refusal();
    return new DaemonError(`broker unreachable (${this.cause ?? `no connection to ${this.mesh.broker_url} yet`}); ${what}; claudemesh doctor says more`, EXIT.unreachable);
  }

  refusal(): DaemonError {
    return new DaemonError(this.cause ?? 'the broker refuses this member', EXIT.failure, this.code);
  }

  /** Marks read at the broker now, or on the next connection. */
  markRead(ids: string[]): void {
    if (this.connected) this.client.markRead(ids);
    else for (const id of ids) this.unsentReads.add(id);
  }

  /**
   * Keeps the status line's cache fresh (it then never connects): our member counts as online,
   * since this daemon's session is a real one.
   */
  private async refreshPresence(): Promise<void> {
    if (!this.connected) {
      // keeps the offline mark fresh for the status line while the broker stays away
      if (this.state === 'unreachable' || this.state === 'refused') this.writeOffline();
      return;
    }
    try {
      const peers = await this.listFresh();
      writePresenceCache(this.home, this.mesh.mesh_id, { mesh_name: this.mesh.mesh_name, online: peers.filter((p) => p.online).length, total: peers.length });
    } catch (error) {
      this.log(`${this.mesh.mesh_name}: presence refresh failed: ${(error as Error).message}`);
    }
  }

  /** Seals the mesh key to members admitted by this member's email invites; one run at a time. */
  private async handOver(): Promise<void> {
    if (!canHandOver(this.mesh) || this.handingOver) return;
    this.handingOver = true;
    try {
      for (const o of await answerKeyRequests(this.mesh)) {
        if (o.status !== 'skipped') this.log(`${this.mesh.mesh_name}: key handoff to ${o.display_name} <${o.email}>: ${o.status}${o.reason ? ` (${o.reason})` : ''}`);
      }
    } catch (error) {
      this.log(`${this.mesh.mesh_name}: key handoff check failed: ${(error as Error).message}`);
    } finally {
      this.handingOver = false;
    }
  }

  /**
   * Whether the local inbox holds everything the broker had for this member: false until the first
   * drain, and while a fresh connection drains again. Waits up to `timeoutMs` for that drain.
   */
  async inboxComplete(timeoutMs: number): Promise<boolean> {
    const settled = (): boolean => this.client.drained || (this.everDrained && !this.client.connected);
    if (settled()) return true;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      // An unreachable or refusing broker hands nothing over: answer from the store at once.
      if (this.state === 'unreachable' || this.state === 'refused') return settled();
      if (await this.client.waitDrained(Math.min(250, deadline - Date.now()))) return true;
      // Disconnected after an earlier drain: nothing more can arrive now, answer from the store.
      if (settled()) return true;
    }
    return settled();
  }

  start(): void {
    this.presenceTimer = setInterval(() => void this.refreshPresence(), PRESENCE_REFRESH_MS);
    this.presenceTimer.unref();
    if (canHandOver(this.mesh)) {
      this.handoffTimer = setInterval(() => void this.handOver(), HANDOFF_MS);
      this.handoffTimer.unref();
    }
    this.resealTimer = setInterval(() => this.keeper.sweep(), resealIntervalMs());
    this.resealTimer.unref();
    // Handed to the client before it connects: it sends them once connected, and after every reconnect.
    try {
      this.tags.apply().catch(() => undefined);
    } catch (error) {
      this.log(`${this.mesh.mesh_name}: ${(error as Error).message}`);
    }
    this.client.connect().catch((e: Error) => {
      this.log(`${this.mesh.mesh_name}: ${e.message}`);
      if (e instanceof ProtocolError && REFUSALS.has(e.code)) this.refuse(e);
    });
    // What an earlier daemon accepted but never saw acked goes out again under its client id.
    for (const entry of this.store.pendingOutbound(this.mesh.mesh_id)) void this.deliver(entry.client_id, entry.to, entry.plaintext).catch(() => undefined);
  }

  /** Sends an outbox entry through the SDK once per process; the broker dedupes on the client id. */
  deliver(clientId: string, to: string, plaintext: string, receipts?: 'all' | 'read' | 'none'): Promise<Ack> {
    let sending = this.inFlight.get(clientId);
    if (!sending) {
      this.store.noteAttempt(this.mesh.mesh_id, clientId);
      sending = this.client.send(to, plaintext, { id: clientId, ...(receipts ? { receipts } : {}) }).then(
        (ack) => {
          this.store.acked(this.mesh.mesh_id, clientId);
          this.inFlight.delete(clientId);
          return ack;
        },
        (error: unknown) => {
          this.inFlight.delete(clientId);
          if (error instanceof ProtocolError && PERMANENT.has(error.code)) this.store.acked(this.mesh.mesh_id, clientId);
          throw error;
        },
      );
      this.inFlight.set(clientId, sending);
    }
    return sending;
  }

  close(): Promise<void> {
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    if (this.handoffTimer) clearInterval(this.handoffTimer);
    if (this.resealTimer) clearInterval(this.resealTimer);
    if (this.lostTimer) clearTimeout(this.lostTimer);
    return this.client.close();
  }
}

/**
 * The per-user daemon: one warm connection per joined mesh, the durable outbox and inbox in
 * local.db, and a unix socket the CLI verbs and the push-pipe talk to.
 */
export class Daemon {
  private readonly store: LocalStore;
  private readonly links = new Map<string, MeshLink>();
  private readonly subscribers = new Set<{ socket: Socket; meshId?: string }>();
  private server: Server | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  readonly paths: ReturnType<typeof daemonPaths>;

  constructor(
    readonly home: string = claudemeshHome(),
    // One line per event, and mesh names from a broker in it: tailed on a terminal, it must not drive one.
    private readonly log: (line: string) => void = (line) => process.stderr.write(`${new Date().toISOString()} ${safeLine(line)}\n`),
  ) {
    this.paths = daemonPaths(home);
    this.store = LocalStore.open(home);
  }

  async start(): Promise<void> {
    if (this.paths.socket.length > MAX_SOCKET_PATH) throw new Error(`socket path too long for this OS: ${this.paths.socket}; use a shorter CLAUDEMESH_HOME`);
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.paths.dir, 0o700);
    if (await answers(this.paths.socket)) throw new DaemonError('a daemon already runs for this home', EXIT.failure);
    rmSync(this.paths.socket, { force: true });
    await cryptoReady();
    this.reload();
    this.server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.paths.socket, () => resolve());
    });
    chmodSync(this.paths.socket, 0o600);
    writeFileSync(this.paths.pid, `${process.pid}\n`, { mode: 0o600 });
    // A daemon whose home or socket was removed (a deleted test home, a manual cleanup) has no one left to serve.
    // Meshes joined or left meanwhile are picked up too.
    this.watchdog = setInterval(() => {
      if (!existsSync(this.paths.socket) || !existsSync(this.home)) void this.stop('its socket or home is gone');
      else if (this.meshSignature() !== this.seenSignature) this.reload();
      // tags.json changed by a process that did not tell us (a push-pipe's tools, a verb without the daemon).
      for (const link of this.links.values()) link.tags.poll();
    }, WATCHDOG_MS);
    this.watchdog.unref();
    this.log(`daemon ${process.pid} listening on ${this.paths.socket} for ${this.links.size} mesh${this.links.size === 1 ? '' : 'es'}`);
  }

  /**
   * Connects meshes joined since the last look, drops the ones left, and reconnects a mesh whose
   * file now holds another identity or broker (left and joined again under a new key).
   */
  reload(): { meshes: number } {
    this.seenSignature = this.meshSignature();
    const joined = new Map(loadMeshes(this.home).map((m) => [m.mesh_id, m]));
    for (const [id, link] of this.links) {
      const now = joined.get(id);
      if (!now || now.identity.public_key !== link.mesh.identity.public_key || now.broker_url !== link.mesh.broker_url) {
        void link.close();
        this.links.delete(id);
      }
    }
    for (const [id, mesh] of joined) {
      if (this.links.has(id)) continue;
      const link = new MeshLink(mesh, this.home, this.store, (meshId, m) => this.publish(meshId, m), this.log);
      this.links.set(id, link);
      link.start();
    }
    return { meshes: this.links.size };
  }

  stop(why = 'asked to stop'): Promise<void> {
    this.stopping ??= (async () => {
      this.log(`daemon stopping: ${why}`);
      if (this.watchdog) clearInterval(this.watchdog);
      for (const s of this.subscribers) s.socket.end();
      await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
      await Promise.all([...this.links.values()].map((l) => l.close()));
      rmSync(this.paths.socket, { force: true });
      rmSync(this.paths.pid, { force: true });
      this.store.close();
    })();
    return this.stopping;
  }

  private seenSignature = '';

  /** Names, sizes and times of the mesh files: a file rewritten in place changes it too. */
  private meshSignature(): string {
    const dir = join(this.home, 'meshes');
    try {
      return readdirSync(dir)
        .sort()
        .map((name) => {
          const st = statSync(join(dir, name));
          return `${name}:${st.size}:${st.mtimeMs}`;
        })
        .join(',');
    } catch {
      return '';
    }
  }

  private serve(socket: Socket): void {
    const reader = new LineReader((line) => void this.handle(socket, line));
    socket.on('data', (chunk) => {
      try {
        reader.push(chunk);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      for (const s of this.subscribers) if (s.socket === socket) this.subscribers.delete(s);
    });
  }

  private async handle(socket: Socket, line: string): Promise<void> {
    let id = 0;
    let answer: DaemonAnswer;
    try {
      const raw = JSON.parse(line) as { id?: unknown };
      if (typeof raw.id === 'number') id = raw.id;
      const parsed = DaemonRequest.safeParse(raw);
      if (!parsed.success) throw new DaemonError(`bad daemon request: ${parsed.error.issues[0]?.message ?? 'invalid'}`, EXIT.usage);
      answer = { id, ok: true, result: await this.dispatch(socket, parsed.data) };
    } catch (error) {
      answer = { id, ok: false, error: errorBody(error) };
    }
    if (!socket.destroyed) socket.write(`${JSON.stringify(answer)}\n`);
  }

  private link(meshId: string): MeshLink {
    const link = this.links.get(meshId) ?? (this.reload(), this.links.get(meshId));
    if (!link) throw new DaemonError(`the daemon has no mesh ${meshId}; run: claudemesh mesh list`, EXIT.noMesh);
    return link;
  }

  private async dispatch(socket: Socket, req: DaemonRequest): Promise<unknown> {
    switch (req.method) {
      case 'ping':
        return { pong: true, pid: process.pid };
      case 'info':
        return {
          pid: process.pid,
          socket: this.paths.socket,
          meshes: [...this.links.values()].map((l) => ({
            mesh_id: l.mesh.mesh_id,
            mesh_name: l.mesh.mesh_name,
            broker_url: l.mesh.broker_url,
            connected: l.connected,
            state: l.state,
            ...(l.cause ? { cause: l.cause } : {}),
            since: l.since,
            outbox: this.store.pendingOutbound(l.mesh.mesh_id).length,
            unread: this.store.unreadCount(l.mesh.mesh_id),
            tags: l.tags.current,
          })),
        };
      case 'reload':
        return this.reload();
      case 'stop':
        setImmediate(() => void this.stop().then(() => process.exit(0)));
        return { stopping: true };
      case 'send':
        return this.send(req.params);
      case 'peers':
        return this.link(req.params.mesh_id).peers();
      case 'message_status': {
        const link = this.link(req.params.mesh_id);
        await link.settled();
        if (!link.connected) throw link.unreachable('message status needs it (your sends wait in the outbox: claudemesh daemon status)');
        return answered(link, (c) => c.messageStatus({ messageIds: req.params.message_ids }));
      }
      case 'mark_read': {
        const link = this.link(req.params.mesh_id);
        const changed = this.store.markRead(req.params.mesh_id, req.params.message_ids);
        link.markRead(req.params.message_ids);
        return { marked: changed.length };
      }
      case 'inbox_ready': {
        const link = this.link(req.params.mesh_id);
        const complete = await link.inboxComplete(req.params.timeout_ms ?? DEFAULT_INBOX_DRAIN_WAIT_MS);
        return { complete, connected: link.client.connected, broker_url: link.mesh.broker_url };
      }
      case 'set_status': {
        const link = this.link(req.params.mesh_id);
        this.store.setSelfPresence(req.params.mesh_id, { status: req.params.status });
        link.status = req.params.status;
        if (link.client.connected) await link.client.setStatus(req.params.status);
        return { status: req.params.status };
      }
      case 'set_summary': {
        const link = this.link(req.params.mesh_id);
        this.store.setSelfPresence(req.params.mesh_id, { summary: req.params.summary });
        link.summary = req.params.summary;
        if (link.client.connected) await link.client.setSummary(req.params.summary);
        return { summary: req.params.summary };
      }
      case 'group': {
        const link = this.link(req.params.mesh_id);
        await link.settled();
        if (!link.connected) throw link.unreachable('group membership lives at the broker; retry when it is back');
        await answered(link, (c) => (req.params.join ? c.joinGroup(req.params.group) : c.leaveGroup(req.params.group)));
        return { group: req.params.group, joined: req.params.join };
      }
      case 'tags':
        return this.advertiseTags(req.params.mesh_id);
      case 'subscribe':
        this.subscribers.add({ socket, ...(req.params.mesh_id ? { meshId: req.params.mesh_id } : {}) });
        return { subscribed: true };
    }
  }

  /**
   * A send: the target is checked against the member list (a name resolves as every verb resolves
   * it; a verified name's key is compared), then the message is written to the outbox and handed to
   * the SDK. While the broker is unreachable the answer is "queued" at once, with the cause; while
   * connected it waits for the ack up to `wait_ms`, and answers "queued" early if the link drops.
   */
  private async send(p: Extract<DaemonRequest, { method: 'send' }>['params']): Promise<SendAnswer> {
    const link = this.link(p.mesh_id);
    await link.settled();
    if (link.state === 'refused') throw link.refusal();
    const verifiedKeys = (name: string) => this.store.verifiedByName(p.mesh_id, name).map((v) => v.member_pubkey);
    const list = isNameTarget(p.to) ? await link.targetList(p.to, verifiedKeys(p.to).length > 0) : null;
    const target = checkSendTarget(p.to, list, verifiedKeys);
    if (!target.ok) throw new DaemonError(target.message, EXIT.notFound, 'E_UNKNOWN_TARGET');
    const clientId = p.client_id ?? randomUUID();
    // Durable first: from here on the message survives a daemon or machine restart.
    this.store.enqueueOutbound({ mesh_id: p.mesh_id, client_id: clientId, to: target.to, plaintext: p.plaintext, created_at: Date.now() });
    const sending = link.deliver(clientId, target.to, p.plaintext, p.receipts);
    sending.catch(() => undefined);
    const base = { client_id: clientId, to: target.to, ...(target.warning ? { warning: target.warning } : {}) };
    const queued = (): SendAnswer => ({ ...base, queued: true, ack: null, ...(link.connected ? {} : { unreachable: link.cause ?? `no connection to ${link.mesh.broker_url} yet` }) });
    if (!link.connected) return queued();
    const waited = await Promise.race([sending.then((ack) => ({ ack })), link.lost(p.wait_ms ?? DEFAULT_SEND_WAIT_MS).then(() => null)]);
    return waited ? { ...base, queued: false, ack: waited.ack } : queued();
  }

  /** Advertises tags.json's tags on the mesh's session: waits for the broker while connected, else they go out on connect. */
  private async advertiseTags(meshId: string): Promise<{ tags: readonly string[]; advertised: boolean; state: LinkState; cause?: string }> {
    const link = this.link(meshId);
    let sending: Promise<void>;
    try {
      sending = link.tags.apply();
    } catch (error) {
      if (error instanceof TagFileError) throw new DaemonError(error.message, EXIT.failure);
      throw error;
    }
    sending.catch(() => undefined);
    await link.settled();
    if (link.connected) await answered(link, () => sending);
    return { tags: link.tags.current, advertised: link.connected, state: link.state, ...(link.cause ? { cause: link.cause } : {}) };
  }

  private publish(meshId: string, message: LocalMessage): void {
    const line = `${JSON.stringify({ event: 'message', mesh_id: meshId, message })}\n`;
    for (const s of this.subscribers) if (!s.meshId || s.meshId === meshId) s.socket.write(line);
  }
}

/** What a send answers: the ack, or queued (with why, when the broker is unreachable); `to` as resolved. */
interface SendAnswer {
  queued: boolean;
  client_id: string;
  ack: Ack | null;
  to: string;
  warning?: string;
  unreachable?: string;
}

function errorBody(error: unknown): DaemonErrorBody {
  if (error instanceof DaemonError) return { message: error.message, exit_code: error.exitCode, ...(error.code ? { code: error.code } : {}) };
  if (error instanceof ProtocolError) return { message: error.message, code: error.code, exit_code: exitCodeOf(error.code) };
  return { message: error instanceof Error ? error.message : String(error), exit_code: EXIT.failure };
}

/** A request that needs the broker: fails after a while when the session is not (yet) up, instead of hanging the CLI. */
async function answered<T>(link: MeshLink, work: (client: MeshClient) => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DaemonError(`no answer from the broker at ${link.mesh.broker_url} within ${BROKER_ANSWER_MS / 1000} s (${link.state}); see claudemesh daemon status`, EXIT.unreachable)),
      BROKER_ANSWER_MS,
    );
  });
  try {
    return await Promise.race([work(link.client), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether something accepts connections on this socket path. */
export function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(false);
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** `claudemesh daemon run`: serves until SIGTERM / SIGINT or a `stop` request. */
export async function runDaemon(home = claudemeshHome()): Promise<void> {
  const daemon = new Daemon(home);
  await daemon.start();
  const shutdown = (signal: string) => void daemon.stop(signal).then(() => process.exit(0));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
