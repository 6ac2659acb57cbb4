import type { InboundMessage } from '@claudemesh/core';
import type { MessagePriority } from '@claudemesh/core/body';
import { decodeBody } from '@claudemesh/core/body';
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TopicIndex } from './topic-index.js';

/** A received message as kept on this machine until it is read (and for a while after). */
export interface LocalMessage {
  mesh_id: string;
  message_id: string;
  client_id: string;
  kind: 'dm' | 'group' | 'broadcast';
  from_name: string;
  from_member: string;
  from_session: string;
  to: string;
  text: string;
  priority: MessagePriority;
  reply_to: string | null;
  sent_at: number;
  received_at: number;
  read_at: number | null;
  /** A message a bridge forwarded from another mesh: who wrote it there, and that mesh's name (null: not forwarded). */
  fwd_from?: string | null;
  fwd_mesh?: string | null;
}

/** A send waiting for the broker's ack; retried under the same client id until acked. */
export interface OutboxEntry {
  mesh_id: string;
  client_id: string;
  to: string;
  plaintext: string;
  created_at: number;
  attempts: number;
}

/** A member key the user compared out of band (`peer verify --confirm`), under the name it had then. */
export interface VerifiedPeer {
  mesh_id: string;
  member_pubkey: string;
  display_name: string;
  verified_at: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS inbox (
  mesh_id TEXT NOT NULL, message_id TEXT NOT NULL, client_id TEXT NOT NULL, kind TEXT NOT NULL,
  from_name TEXT NOT NULL, from_member TEXT NOT NULL, from_session TEXT NOT NULL, "to" TEXT NOT NULL,
  text TEXT NOT NULL, priority TEXT NOT NULL, reply_to TEXT, sent_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL, read_at INTEGER,
  PRIMARY KEY (mesh_id, message_id)
);
CREATE INDEX IF NOT EXISTS inbox_unread ON inbox (mesh_id, read_at, CAST(message_id AS INTEGER));
CREATE TABLE IF NOT EXISTS outbox (
  mesh_id TEXT NOT NULL, client_id TEXT NOT NULL, "to" TEXT NOT NULL, plaintext TEXT NOT NULL,
  created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (mesh_id, client_id)
);
CREATE TABLE IF NOT EXISTS verified_peers (
  mesh_id TEXT NOT NULL, member_pubkey TEXT NOT NULL, display_name TEXT NOT NULL, verified_at INTEGER NOT NULL,
  PRIMARY KEY (mesh_id, member_pubkey)
);
CREATE INDEX IF NOT EXISTS verified_peers_name ON verified_peers (mesh_id, display_name);
CREATE TABLE IF NOT EXISTS self_presence (
  mesh_id TEXT PRIMARY KEY, status TEXT, summary TEXT, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
  mesh_id TEXT NOT NULL, peer_pubkey TEXT NOT NULL, display_name TEXT NOT NULL, capabilities TEXT NOT NULL,
  blocked INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (mesh_id, peer_pubkey)
);
`;

/** The status and summary this member last set in a mesh: re-applied to every session the daemon opens. */
export interface SelfPresence {
  status: 'idle' | 'working' | 'dnd' | null;
  summary: string | null;
}

/**
 * What a backup carries of local.db (archive v2, docs/crypto.md "Backup file"): the records only
 * this machine has. The outbox stays behind: its daemon delivers those sends when it can.
 */
export interface LocalSnapshot {
  verified_peers: VerifiedPeer[];
  inbox: LocalMessage[];
  grants: Array<LocalGrant & { mesh_id: string }>;
  presence: Array<SelfPresence & { mesh_id: string; updated_at: number }>;
}

/** Rows a restore added or advanced, per kind. */
export type LocalImportCounts = Record<keyof LocalSnapshot, number>;

/** What a peer may do to this member, as last set here (docs/protocol.md §5.5); absent = the defaults. */
export interface LocalGrant {
  peer: string;
  display_name: string;
  capabilities: string[];
  blocked: boolean;
  updated_at: number;
}
/**
 * DEFAULT_CAPABILITIES of @claudemesh/core, spelled out: this module is loaded by the fast path,
 * which must not pull in zod; keep the two equal.
 */
const DEFAULT_GRANT = new Set(['dm', 'broadcast', 'read', 'state-read']);

/**
 * better-sqlite3's addon when it is not in node_modules: the single binary (apps/cli/build-sea.mjs)
 * carries it inside and leaves the path of its unpacked copy here. Undefined: the usual lookup.
 */
function seaAddon(): string | undefined {
  return (globalThis as { claudemeshSqliteAddon?: string }).claudemeshSqliteAddon;
}

/**
 * The peer's durable local state: the inbox (what arrived, read or not) and the outbox (what was
 * sent but not yet acked). One SQLite file, $CLAUDEMESH_HOME/local.db (0600, WAL), shared by the
 * CLI, the daemon and the push-pipe; every write is a single statement, so concurrent processes
 * never see half a message.
 */
export class LocalStore {
  private index: TopicIndex | undefined;

  private constructor(private readonly db: Database.Database) {}

  /** The search index of decrypted topic messages (tables created on first use). */
  topicIndex(): TopicIndex {
    this.index ??= TopicIndex.on(this.db);
    return this.index;
  }

  static open(home: string): LocalStore {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const file = join(home, 'local.db');
    const fresh = !existsSync(file);
    const db = new Database(file, { nativeBinding: seaAddon() });
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
    // Added after the first release: a bridge's attribution of a forwarded message.
    const columns = (db.prepare('PRAGMA table_info(inbox)').all() as Array<{ name: string }>).map((c) => c.name);
    if (!columns.includes('fwd_from')) db.exec('ALTER TABLE inbox ADD COLUMN fwd_from TEXT; ALTER TABLE inbox ADD COLUMN fwd_mesh TEXT;');
    if (fresh) for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    return new LocalStore(db);
  }

  close(): void {
    this.db.close();
  }

  /** Keeps a received message; false if it was already here (a redelivery). */
  addInbound(meshId: string, m: InboundMessage, receivedAt = Date.now()): boolean {
    const body = decodeBody(m.text);
    const info = this.db
      .prepare(
        `INSERT INTO inbox (mesh_id, message_id, client_id, kind, from_name, from_member, from_session, "to", text, priority, reply_to, sent_at, received_at, fwd_from, fwd_mesh)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(meshId, m.messageId, m.clientId, m.kind, m.from.displayName, m.from.memberPubkey, m.from.sessionPubkey, m.to, body.text, body.priority, body.replyTo, m.sentAt, receivedAt, body.forwarded?.from ?? null, body.forwarded?.mesh ?? null);
    return info.changes === 1;
  }

  /** Messages of a mesh in arrival order (by broker message id); unread only unless `all`. */
  inbox(meshId: string, options: { all?: boolean; limit?: number } = {}): LocalMessage[] {
    const where = options.all ? '' : 'AND read_at IS NULL';
    return this.db
      .prepare(`SELECT * FROM inbox WHERE mesh_id = ? ${where} ORDER BY CAST(message_id AS INTEGER) LIMIT ?`)
      .all(meshId, options.limit ?? 1000) as LocalMessage[];
  }

  get(meshId: string, messageId: string): LocalMessage | undefined {
    return this.db.prepare('SELECT * FROM inbox WHERE mesh_id = ? AND message_id = ?').get(meshId, messageId) as LocalMessage | undefined;
  }

  /** The member a session key spoke for, from messages received (a reply to a rotated session). */
  memberOfSession(meshId: string, sessionPubkey: string): string | null {
    const row = this.db.prepare('SELECT from_member FROM inbox WHERE mesh_id = ? AND from_session = ? LIMIT 1').get(meshId, sessionPubkey) as { from_member: string } | undefined;
    return row?.from_member ?? null;
  }

  unreadCount(meshId: string): number {
    return (this.db.prepare('SELECT count(*) AS n FROM inbox WHERE mesh_id = ? AND read_at IS NULL').get(meshId) as { n: number }).n;
  }

  /** Marks messages read; returns the ids that were unread until now. */
  markRead(meshId: string, messageIds: string[], at = Date.now()): string[] {
    const stmt = this.db.prepare('UPDATE inbox SET read_at = ? WHERE mesh_id = ? AND message_id = ? AND read_at IS NULL');
    const changed: string[] = [];
    this.db.transaction(() => {
      for (const id of messageIds) if (stmt.run(at, meshId, id).changes === 1) changed.push(id);
    })();
    return changed;
  }

  enqueueOutbound(entry: Omit<OutboxEntry, 'attempts'>): void {
    this.db
      .prepare('INSERT INTO outbox (mesh_id, client_id, "to", plaintext, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(entry.mesh_id, entry.client_id, entry.to, entry.plaintext, entry.created_at);
  }

  pendingOutbound(meshId: string): OutboxEntry[] {
    return this.db.prepare('SELECT * FROM outbox WHERE mesh_id = ? ORDER BY created_at, client_id').all(meshId) as OutboxEntry[];
  }

  noteAttempt(meshId: string, clientId: string): void {
    this.db.prepare('UPDATE outbox SET attempts = attempts + 1 WHERE mesh_id = ? AND client_id = ?').run(meshId, clientId);
  }

  /** The broker acked it: it is stored there, so it leaves the outbox. */
  acked(meshId: string, clientId: string): void {
    this.db.prepare('DELETE FROM outbox WHERE mesh_id = ? AND client_id = ?').run(meshId, clientId);
  }

  /** The local copy of the member's grants: replaced whole from the broker's list_grants answer. */
  replaceGrants(meshId: string, grants: LocalGrant[]): void {
    const insert = this.db.prepare('INSERT INTO grants (mesh_id, peer_pubkey, display_name, capabilities, blocked, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM grants WHERE mesh_id = ?').run(meshId);
      for (const g of grants) insert.run(meshId, g.peer, g.display_name, g.capabilities.join(','), g.blocked ? 1 : 0, g.updated_at);
    })();
  }

  grants(meshId: string): LocalGrant[] {
    const rows = this.db.prepare('SELECT * FROM grants WHERE mesh_id = ? ORDER BY display_name').all(meshId) as Array<{ peer_pubkey: string; display_name: string; capabilities: string; blocked: number; updated_at: number }>;
    return rows.map((r) => ({ peer: r.peer_pubkey, display_name: r.display_name, capabilities: r.capabilities ? r.capabilities.split(',') : [], blocked: r.blocked === 1, updated_at: r.updated_at }));
  }

  /** Whether the local grants let `peer` do `capability` to this member (read on every push). */
  allows(meshId: string, peer: string, capability: string): boolean {
    const row = this.db.prepare('SELECT capabilities, blocked FROM grants WHERE mesh_id = ? AND peer_pubkey = ?').get(meshId, peer) as { capabilities: string; blocked: number } | undefined;
    if (!row) return DEFAULT_GRANT.has(capability);
    return row.blocked === 0 && row.capabilities.split(',').includes(capability);
  }

  selfPresence(meshId: string): SelfPresence {
    const row = this.db.prepare('SELECT status, summary FROM self_presence WHERE mesh_id = ?').get(meshId) as SelfPresence | undefined;
    return row ?? { status: null, summary: null };
  }

  /** Keeps the status or summary just set, so a restarted daemon shows the same presence. */
  setSelfPresence(meshId: string, change: { status: SelfPresence['status'] } | { summary: string }, at = Date.now()): void {
    const [column, value] = 'status' in change ? ['status', change.status] : ['summary', change.summary];
    this.db
      .prepare(`INSERT INTO self_presence (mesh_id, ${column}, updated_at) VALUES (?, ?, ?) ON CONFLICT (mesh_id) DO UPDATE SET ${column} = excluded.${column}, updated_at = excluded.updated_at`)
      .run(meshId, value, at);
  }

  /** Everything a backup carries of this store, in a stable order. */
  exportSnapshot(): LocalSnapshot {
    const grants = this.db.prepare('SELECT * FROM grants ORDER BY mesh_id, peer_pubkey').all() as Array<{ mesh_id: string; peer_pubkey: string; display_name: string; capabilities: string; blocked: number; updated_at: number }>;
    return {
      verified_peers: this.db.prepare('SELECT * FROM verified_peers ORDER BY mesh_id, member_pubkey').all() as VerifiedPeer[],
      inbox: this.db.prepare('SELECT * FROM inbox ORDER BY mesh_id, CAST(message_id AS INTEGER)').all() as LocalMessage[],
      grants: grants.map((g) => ({ mesh_id: g.mesh_id, peer: g.peer_pubkey, display_name: g.display_name, capabilities: g.capabilities ? g.capabilities.split(',') : [], blocked: g.blocked === 1, updated_at: g.updated_at })),
      presence: this.db.prepare('SELECT mesh_id, status, summary, updated_at FROM self_presence ORDER BY mesh_id').all() as LocalSnapshot['presence'],
    };
  }

  /**
   * Merges a backup's records, never losing what is here: a message already here keeps its row (it
   * only gains a read mark the backup has); a verification, grant or presence replaces this one's
   * only when it is newer. One transaction: all or nothing.
   */
  importSnapshot(snap: LocalSnapshot): LocalImportCounts {
    const counts: LocalImportCounts = { verified_peers: 0, inbox: 0, grants: 0, presence: 0 };
    const verified = this.db.prepare(
      `INSERT INTO verified_peers (mesh_id, member_pubkey, display_name, verified_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (mesh_id, member_pubkey) DO UPDATE SET display_name = excluded.display_name, verified_at = excluded.verified_at WHERE excluded.verified_at > verified_peers.verified_at`,
    );
    const message = this.db.prepare(
      `INSERT INTO inbox (mesh_id, message_id, client_id, kind, from_name, from_member, from_session, "to", text, priority, reply_to, sent_at, received_at, read_at, fwd_from, fwd_mesh)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    const readMark = this.db.prepare('UPDATE inbox SET read_at = ? WHERE mesh_id = ? AND message_id = ? AND read_at IS NULL');
    const grant = this.db.prepare(
      `INSERT INTO grants (mesh_id, peer_pubkey, display_name, capabilities, blocked, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (mesh_id, peer_pubkey) DO UPDATE SET display_name = excluded.display_name, capabilities = excluded.capabilities, blocked = excluded.blocked, updated_at = excluded.updated_at
       WHERE excluded.updated_at > grants.updated_at`,
    );
    const presence = this.db.prepare(
      `INSERT INTO self_presence (mesh_id, status, summary, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (mesh_id) DO UPDATE SET status = excluded.status, summary = excluded.summary, updated_at = excluded.updated_at WHERE excluded.updated_at > self_presence.updated_at`,
    );
    this.db.transaction(() => {
      for (const v of snap.verified_peers) counts.verified_peers += verified.run(v.mesh_id, v.member_pubkey, v.display_name, v.verified_at).changes;
      for (const m of snap.inbox) {
        const added = message.run(m.mesh_id, m.message_id, m.client_id, m.kind, m.from_name, m.from_member, m.from_session, m.to, m.text, m.priority, m.reply_to, m.sent_at, m.received_at, m.read_at, m.fwd_from ?? null, m.fwd_mesh ?? null).changes;
        const marked = added === 0 && m.read_at !== null ? readMark.run(m.read_at, m.mesh_id, m.message_id).changes : 0;
        counts.inbox += added + marked;
      }
      for (const g of snap.grants) counts.grants += grant.run(g.mesh_id, g.peer, g.display_name, g.capabilities.join(','), g.blocked ? 1 : 0, g.updated_at).changes;
      for (const p of snap.presence) counts.presence += presence.run(p.mesh_id, p.status, p.summary, p.updated_at).changes;
    })();
    return counts;
  }

  /** Records a member key as verified (again: the name and time are refreshed). */
  markVerified(meshId: string, memberPubkey: string, displayName: string, at = Date.now()): VerifiedPeer {
    this.db
      .prepare(
        `INSERT INTO verified_peers (mesh_id, member_pubkey, display_name, verified_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (mesh_id, member_pubkey) DO UPDATE SET display_name = excluded.display_name, verified_at = excluded.verified_at`,
      )
      .run(meshId, memberPubkey, displayName, at);
    return { mesh_id: meshId, member_pubkey: memberPubkey, display_name: displayName, verified_at: at };
  }

  verifiedPeer(meshId: string, memberPubkey: string): VerifiedPeer | undefined {
    return this.db.prepare('SELECT * FROM verified_peers WHERE mesh_id = ? AND member_pubkey = ?').get(meshId, memberPubkey) as VerifiedPeer | undefined;
  }

  /** Every verified key of a mesh, most recently verified first. */
  verifiedPeers(meshId: string): VerifiedPeer[] {
    return this.db.prepare('SELECT * FROM verified_peers WHERE mesh_id = ? ORDER BY verified_at DESC, member_pubkey').all(meshId) as VerifiedPeer[];
  }

  /** The keys verified under a display name (more than one after a re-verification), most recent first. */
  verifiedByName(meshId: string, displayName: string): VerifiedPeer[] {
    return this.db
      .prepare('SELECT * FROM verified_peers WHERE mesh_id = ? AND display_name = ? ORDER BY verified_at DESC, member_pubkey')
      .all(meshId, displayName) as VerifiedPeer[];
  }
}
