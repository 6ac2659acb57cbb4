import { claudemeshHome, type Ack, type MessageStatus, type PeerStatus, type StoredMesh } from '@claudemesh/core';
import { EXIT } from './exit-codes.js';
import { DaemonCallError, ensureDaemon, olderDaemon, peerList, type DaemonClient, type PeerListAnswer } from './daemon/client.js';
import { inboxDrainWaitMs } from './daemon/inbox-wait.js';
import { LocalStore } from './store/local-store.js';

export interface SendOutcome {
  /** True when the broker did not ack in time: the message waits in the daemon's durable outbox. */
  queued: boolean;
  client_id: string;
  ack: Ack | null;
  /** The target as resolved (a name typed in another case becomes the member's name). */
  to?: string;
  /** A line for stderr: the verified key of this name changed (claudemesh peer verify). */
  warning?: string;
  /** Why the broker is unreachable, when the message was queued for that reason. */
  unreachable?: string;
}

/** Whether the local inbox is known to hold everything the broker had queued for this member. */
export interface InboxSync {
  complete: boolean;
  broker_url: string;
}

/** A member list, and when it is the last one seen because the broker is unreachable now. */
export type PeerList = PeerListAnswer;

/**
 * What the verbs need from the mesh, served by the daemon's warm connection when it runs (started
 * on demand) and by a direct connection per verb otherwise (CLAUDEMESH_DAEMON=off, or a daemon
 * that cannot start).
 */
export interface Backend {
  readonly kind: 'daemon' | 'direct';
  send(mesh: StoredMesh, to: string, plaintext: string): Promise<SendOutcome>;
  peers(mesh: StoredMesh): Promise<PeerList>;
  messageStatus(mesh: StoredMesh, ids: string[]): Promise<MessageStatus[]>;
  /**
   * Brings what waits at the broker into the local inbox (and waits `waitS` for more); says whether
   * that is known to be complete (the session drained its offline queue).
   */
  syncInbox(mesh: StoredMesh, waitS: number): Promise<InboxSync>;
  markRead(mesh: StoredMesh, ids: string[]): Promise<void>;
  /** Why the broker is unreachable for this mesh right now (the daemon knows; a direct connection just worked), or null. */
  offline(mesh: StoredMesh): Promise<string | null>;
  setStatus(mesh: StoredMesh, status: PeerStatus): Promise<void>;
  setSummary(mesh: StoredMesh, summary: string): Promise<void>;
  group(mesh: StoredMesh, group: string, join: boolean): Promise<void>;
  close(): void;
}

class DaemonBackend implements Backend {
  readonly kind = 'daemon' as const;

  constructor(private readonly d: DaemonClient) {}

  async send(mesh: StoredMesh, to: string, plaintext: string): Promise<SendOutcome> {
    const wait = Number(process.env['CLAUDEMESH_SEND_WAIT_MS']);
    const params = { mesh_id: mesh.mesh_id, to, plaintext, ...(Number.isInteger(wait) && wait >= 0 ? { wait_ms: wait } : {}) };
    return (await this.call(() => this.d.call('send', params))) as SendOutcome;
  }

  async peers(mesh: StoredMesh): Promise<PeerList> {
    return peerList(await this.call(() => this.d.call('peers', { mesh_id: mesh.mesh_id })));
  }

  async messageStatus(mesh: StoredMesh, ids: string[]): Promise<MessageStatus[]> {
    return (await this.call(() => this.d.call('message_status', { mesh_id: mesh.mesh_id, message_ids: ids }))) as MessageStatus[];
  }

  /**
   * The daemon stores every push as it arrives; a daemon this verb just started (or whose session
   * reconnected) may not have drained the offline queue yet, so wait for that first.
   */
  async syncInbox(mesh: StoredMesh, waitS: number): Promise<InboxSync> {
    const ready = (await this.call(() => this.d.call('inbox_ready', { mesh_id: mesh.mesh_id, timeout_ms: inboxDrainWaitMs() }).catch(olderDaemon))) as InboxSync;
    if (waitS > 0) await new Promise((r) => setTimeout(r, waitS * 1000));
    return { complete: ready.complete, broker_url: mesh.broker_url };
  }

  async markRead(mesh: StoredMesh, ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) await this.call(() => this.d.call('mark_read', { mesh_id: mesh.mesh_id, message_ids: ids.slice(i, i + 500) }));
  }

  async offline(mesh: StoredMesh): Promise<string | null> {
    const info = (await this.call(() => this.d.call('info'))) as { meshes: Array<{ mesh_id: string; state?: string; cause?: string }> };
    const link = info.meshes.find((m) => m.mesh_id === mesh.mesh_id);
    return link && (link.state === 'unreachable' || link.state === 'refused') ? (link.cause ?? link.state) : null;
  }

  async setStatus(mesh: StoredMesh, status: PeerStatus): Promise<void> {
    await this.call(() => this.d.call('set_status', { mesh_id: mesh.mesh_id, status }));
  }

  async setSummary(mesh: StoredMesh, summary: string): Promise<void> {
    await this.call(() => this.d.call('set_summary', { mesh_id: mesh.mesh_id, summary }));
  }

  async group(mesh: StoredMesh, group: string, join: boolean): Promise<void> {
    await this.call(() => this.d.call('group', { mesh_id: mesh.mesh_id, group, join }));
  }

  close(): void {
    this.d.close();
  }

  /** Daemon errors come back as the CLI errors they stand for. */
  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof DaemonCallError) throw await asCliError(error);
      throw error;
    }
  }
}

async function asCliError(error: DaemonCallError): Promise<Error> {
  const [{ CliError }, { ProtocolError, isErrorCode }] = await Promise.all([import('./context.js'), import('@claudemesh/core')]);
  if (error.body.code && isErrorCode(error.body.code)) return new ProtocolError(error.body.code, error.body.message);
  return new CliError(error.body.message, error.body.exit_code ?? EXIT.failure);
}

class DirectBackend implements Backend {
  readonly kind = 'direct' as const;

  private async with<T>(mesh: StoredMesh, work: (client: import('@claudemesh/core').MeshClient) => Promise<T>): Promise<T> {
    const { connectTo } = await import('./context.js');
    const client = await connectTo(mesh);
    try {
      return await work(client);
    } finally {
      await client.close();
    }
  }

  /** Checks the target against a fresh member list (as the daemon does with its own), then sends. */
  async send(mesh: StoredMesh, to: string, plaintext: string): Promise<SendOutcome> {
    const [{ checkSendTarget }, { isNameTarget }, { LocalStore }, { ProtocolError }] = await Promise.all([
      import('./verified-check.js'),
      import('./peer-names.js'),
      import('./store/local-store.js'),
      import('@claudemesh/core'),
    ]);
    return this.with(mesh, async (c) => {
      const store = LocalStore.open(claudemeshHome());
      let target;
      try {
        const list = isNameTarget(to) ? { peers: await c.listPeers(), stale: false } : null;
        target = checkSendTarget(to, list, (name) => store.verifiedByName(mesh.mesh_id, name).map((v) => v.member_pubkey));
      } finally {
        store.close();
      }
      if (!target.ok) throw new ProtocolError('E_UNKNOWN_TARGET', target.message);
      const ack = await c.send(target.to, plaintext);
      return { queued: false, client_id: ack.id, ack, to: target.to, ...(target.warning ? { warning: target.warning } : {}) };
    });
  }

  async peers(mesh: StoredMesh): Promise<PeerList> {
    return { peers: await this.with(mesh, (c) => c.listPeers()), stale: null };
  }

  messageStatus(mesh: StoredMesh, ids: string[]): Promise<MessageStatus[]> {
    return this.with(mesh, (c) => c.messageStatus({ messageIds: ids }));
  }

  /** connectTo stores every push; this waits for the queue hello_ack announced to drain (and `waitS` more). */
  syncInbox(mesh: StoredMesh, waitS: number): Promise<InboxSync> {
    return this.with(mesh, async (client) => {
      const complete = await client.waitDrained(inboxDrainWaitMs());
      if (waitS > 0) await new Promise((r) => setTimeout(r, waitS * 1000));
      return { complete, broker_url: mesh.broker_url };
    });
  }

  markRead(mesh: StoredMesh, ids: string[]): Promise<void> {
    return this.with(mesh, async (c) => {
      c.markRead(ids);
      await new Promise((r) => setTimeout(r, 50));
    });
  }

  async offline(): Promise<string | null> {
    return null;
  }

  /** Kept in local.db too, so a daemon started later shows it on its session. */
  async setStatus(mesh: StoredMesh, status: PeerStatus): Promise<void> {
    await this.with(mesh, (c) => c.setStatus(status));
    rememberPresence(mesh, { status });
  }

  async setSummary(mesh: StoredMesh, summary: string): Promise<void> {
    await this.with(mesh, (c) => c.setSummary(summary));
    rememberPresence(mesh, { summary });
  }

  group(mesh: StoredMesh, group: string, join: boolean): Promise<void> {
    return this.with(mesh, (c) => (join ? c.joinGroup(group) : c.leaveGroup(group)));
  }

  close(): void {}
}

function rememberPresence(mesh: StoredMesh, change: { status: PeerStatus } | { summary: string }): void {
  const store = LocalStore.open(claudemeshHome());
  try {
    store.setSelfPresence(mesh.mesh_id, change);
  } finally {
    store.close();
  }
}

/** The daemon when it runs or can be started, else direct connections. */
export async function openBackend(home = claudemeshHome()): Promise<Backend> {
  const daemon = await ensureDaemon(home);
  return daemon ? new DaemonBackend(daemon) : new DirectBackend();
}

/** Runs `work` with a backend and always releases it. */
export async function withBackend<T>(work: (b: Backend) => Promise<T>): Promise<T> {
  const backend = await openBackend();
  try {
    return await work(backend);
  } finally {
    backend.close();
  }
}
