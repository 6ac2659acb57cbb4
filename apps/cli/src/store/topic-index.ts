import type Database from 'better-sqlite3';

/**
 * The local search index of encrypted topics (body_version 2): the broker holds only ciphertext of
 * them, so it cannot search them; each member's CLI indexes what it decrypted, in local.db beside the
 * inbox (0600), and `me search` merges these hits with the broker's for plaintext topics. SQLite FTS5
 * over an ordinary table (external content), kept in step by triggers.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS topic_messages (
  mesh_id TEXT NOT NULL, topic TEXT NOT NULL, message_id TEXT NOT NULL,
  sender_name TEXT NOT NULL, sender_member TEXT NOT NULL, epoch INTEGER, created_at INTEGER NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY (mesh_id, topic, message_id)
);
CREATE VIRTUAL TABLE IF NOT EXISTS topic_text USING fts5(
  text, content='topic_messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS topic_messages_ai AFTER INSERT ON topic_messages BEGIN
  INSERT INTO topic_text (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS topic_messages_ad AFTER DELETE ON topic_messages BEGIN
  INSERT INTO topic_text (topic_text, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
`;

/** One decrypted topic message as kept for search. */
export interface IndexedTopicMessage {
  mesh_id: string;
  topic: string;
  message_id: string;
  sender_name: string;
  sender_member: string;
  /** The key epoch it was written under (null for a plaintext topic's message). */
  epoch: number | null;
  created_at: number;
  text: string;
}

/** A search hit: the message, a snippet around the match (matches in [ ]), and its bm25 rank (lower is better). */
export interface TopicHit extends IndexedTopicMessage {
  snippet: string;
  rank: number;
}

export class TopicIndex {
  private constructor(private readonly db: Database.Database) {}

  /** Creates the index's tables on first use (the fast path never pays for them). */
  static on(db: Database.Database): TopicIndex {
    db.exec(SCHEMA);
    return new TopicIndex(db);
  }

  /** Keeps a decrypted message; false when it was already indexed. */
  add(m: IndexedTopicMessage): boolean {
    const info = this.db
      .prepare(
        `INSERT INTO topic_messages (mesh_id, topic, message_id, sender_name, sender_member, epoch, created_at, text)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .run(m.mesh_id, m.topic, m.message_id, m.sender_name, m.sender_member, m.epoch, m.created_at, m.text);
    return info.changes === 1;
  }

  /**
   * Hits for `query` (the broker's syntax: words, "phrases", -not, or) in one mesh, optionally one
   * topic, best first. A query with no word to look for (only exclusions, or only punctuation) finds
   * nothing rather than everything.
   */
  search(query: string, o: { meshId: string; topic?: string; limit?: number }): TopicHit[] {
    const match = toFtsQuery(query);
    if (match === null) return [];
    return this.db
      .prepare(
        `SELECT m.*, snippet(topic_text, 0, '[', ']', '…', 12) AS snippet, bm25(topic_text) AS rank
         FROM topic_text JOIN topic_messages m ON m.rowid = topic_text.rowid
         WHERE topic_text MATCH ? AND m.mesh_id = ? ${o.topic === undefined ? '' : 'AND m.topic = ?'}
         ORDER BY rank, m.created_at DESC LIMIT ?`,
      )
      .all(match, o.meshId, ...(o.topic === undefined ? [] : [o.topic]), o.limit ?? 20) as TopicHit[];
  }

  /** Drops what was indexed of a topic (left, or its keys are gone) or of a whole mesh; returns how many. */
  forget(meshId: string, topic?: string): number {
    const where = topic === undefined ? 'mesh_id = ?' : 'mesh_id = ? AND topic = ?';
    return this.db.prepare(`DELETE FROM topic_messages WHERE ${where}`).run(meshId, ...(topic === undefined ? [] : [topic])).changes;
  }
}

/**
 * The broker's search syntax as an FTS5 query: words and "phrases" must all match, `-word` or
 * `-"phrase"` must not, `or` between terms separates alternatives. Every term is quoted, so no input
 * reaches FTS5's own operators; null when nothing is left to look for.
 */
export function toFtsQuery(query: string): string | null {
  const groups: Array<{ want: string[]; not: string[] }> = [{ want: [], not: [] }];
  for (const m of query.matchAll(/(-?)"([^"]*)"?|(\S+)/g)) {
    const negated = m[1] === '-' || (m[3]?.startsWith('-') ?? false);
    const raw = m[2] ?? m[3]!.replace(/^-/, '');
    if (m[2] === undefined && !negated && raw.toLowerCase() === 'or') {
      groups.push({ want: [], not: [] });
      continue;
    }
    // Only letters and digits make tokens; a term of punctuation alone would match nothing.
    const words = raw.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    if (words.length === 0) continue;
    const term = `"${words.join(' ')}"`;
    groups.at(-1)![negated ? 'not' : 'want'].push(term);
  }
  const parts = groups
    .filter((g) => g.want.length > 0)
    .map((g) => (g.not.length === 0 ? `(${g.want.join(' AND ')})` : `((${g.want.join(' AND ')}) NOT (${g.not.join(' OR ')}))`));
  return parts.length === 0 ? null : parts.join(' OR ');
}
