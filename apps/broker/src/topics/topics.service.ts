import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  ProtocolError, TOPIC_LIMITS, type CreateTopicBody, type HistoryQuery, type MarkReadBody, type PostTopicMessageBody, type SearchQuery, type TopicInfo,
  type EpochDue, type TopicMember, type TopicMessage,
} from '@claudemesh/core';
import { randomId, topicScope } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import type { z } from 'zod';
import { BUS, memberTopic, topicChannel, type Bus } from '../bus/bus.js';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { SEARCH_CONCURRENCY, type SearchLimits } from '../config/rest-limits.config.js';
import { preparedRows, rows, transaction } from '../db/sql.js';
import type { MemberRecord, MeshState } from '../meshes/mesh-directory.js';
import { PushService } from '../push/push.service.js';
import { SealedPostCheck, type EpochUseNow } from './sealed-post.check.js';
import { SearchGate } from './search-gate.js';
import { TopicStatistics } from './topic-statistics.js';
import { TopicWriter } from './topic-writer.js';
import { MESSAGE_COLUMNS, toTopicMessage, type MessageRow, type TopicRow } from './topic-rows.js';
import { AnalyticsRecorder } from '../analytics/analytics.recorder.js';
import { BrokerMetrics } from '../metrics/broker-metrics.js';
import type { JoinedTopics } from './joined-topics.js';

/** Who asks: a member of a mesh, limited to some topics when it came with a topic-scoped key. */
export interface TopicScope {
  state: MeshState;
  member: MemberRecord;
  topics: ReadonlySet<string> | null;
  /** A WebSocket connection's topics its member joined (resolve answers them without a lookup); none over REST. */
  joined?: JoinedTopics;
}

/** Topic message ids are a bigint sequence: a wire id above it names no message (and must not reach SQL). */
const MAX_TOPIC_MESSAGE_ID = 2n ** 63n - 1n;
export const canExist = (id: string): boolean => BigInt(id) <= MAX_TOPIC_MESSAGE_ID;

/** SQLSTATE of a statement cancelled by statement_timeout. */
const QUERY_CANCELED = '57014';

/**
 * The newest $7 matches in the topics the scope may read, ranked among themselves: best first,
 * newest first among equals. The readable topics are worked out once, not joined per matching row.
 */
const SEARCH_SQL = `
  WITH readable AS (
    SELECT t.id FROM topics t LEFT JOIN topic_members me ON me.topic_id = t.id AND me.member_id = $2
    WHERE t.mesh_id = $1 AND (t.visibility = 'public' OR me.member_id IS NOT NULL)
      AND ($4::text IS NULL OR t.name = $4) AND ($5::text[] IS NULL OR t.name = ANY($5::text[]))
  ), candidates AS (
    SELECT m.id, m.body_tsv FROM topic_messages m
    WHERE m.topic_id = ANY(ARRAY(SELECT id FROM readable)) AND m.mesh_id = $1 AND m.body_version = 1
      AND m.body_tsv @@ websearch_to_tsquery('simple', $3)
    ORDER BY m.id DESC LIMIT $7
  ), ranked AS (
    SELECT id, ts_rank(body_tsv, websearch_to_tsquery('simple', $3)) AS rank FROM candidates ORDER BY rank DESC, id DESC LIMIT $6
  )
  SELECT ${MESSAGE_COLUMNS} FROM ranked r JOIN topic_messages m ON m.id = r.id JOIN topics t ON t.id = m.topic_id
  ORDER BY r.rank DESC, m.id DESC`;

export interface ResolvedTopic extends TopicRow {
  joined: boolean;
}

/** A body_version 2 post (topic_send): sealed under an epoch key, with the members it mentions. */
export interface SealedPost {
  body_version: 2;
  key_epoch: number;
  nonce: string;
  ciphertext: string;
  sig: string;
  mentions: string[];
  client_id: string;
  reply_to?: string | undefined;
}

/** What post() takes: version 1 text, or a sealed version 2 body (both from topic_send and REST). */
export type TopicPost = z.output<typeof PostTopicMessageBody> | SealedPost;


const isSealed = (body: TopicPost): body is SealedPost => 'body_version' in body && body.body_version === 2;

/**
 * Topics (docs/topics.md): create, list, join, leave, members, history, post, read marks, search.
 * Public topics are readable by every member of the mesh; private ones only by their members. A
 * message is stored (with its mentions and reply notifications, in one transaction) before it is
 * published on the bus, so a stream never shows what could still be rolled back.
 */
@Injectable()
export class TopicsService implements OnApplicationBootstrap {
  /** Posts waiting for their topic's next batch, by topic id; a topic with an entry has a batch being written. */
  private readonly writer: TopicWriter;
  private readonly searchLimits: SearchLimits;
  private readonly searches: SearchGate;
  private readonly statistics: TopicStatistics;
  private readonly sealedPosts: SealedPostCheck;

  constructor(
    private readonly ds: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(BROKER_CONFIG) config: BrokerConfig,
    private readonly push: PushService,
    metrics: BrokerMetrics,
    analytics: AnalyticsRecorder,
  ) {
    this.searchLimits = config.rest.search;
    const database = config.databaseUrl?.trim() ? 'postgres' : 'embedded';
    this.searches = new SearchGate(this.searchLimits.concurrency ?? SEARCH_CONCURRENCY[database], this.searchLimits.queue);
    this.statistics = new TopicStatistics(ds, database === 'embedded');
    this.sealedPosts = new SealedPostCheck(ds, config.epochRotation);
    this.writer = new TopicWriter(ds, this.sealedPosts, metrics, analytics);
  }

  onApplicationBootstrap(): void {
    void this.statistics.refresh();
  }

  async list(scope: TopicScope): Promise<TopicInfo[]> {
    const found = await rows<TopicRow & { members: number; joined: boolean; unread: number; last_message_id: string | null; last_message_at: Date | null }>(
      this.ds,
      `SELECT t.id, t.mesh_id, t.name, t.visibility, t.description, t.encryption, t.history, t.created_at,
              (SELECT count(*) FROM topic_members x WHERE x.topic_id = t.id)::int AS members,
              me.member_id IS NOT NULL AS joined,
              CASE WHEN me.member_id IS NULL THEN 0 ELSE
                (SELECT count(*) FROM topic_messages x WHERE x.topic_id = t.id AND x.id > me.last_read_id AND x.sender_member_id <> $2)::int END AS unread,
              l.id AS last_message_id, l.created_at AS last_message_at
       FROM topics t
       LEFT JOIN topic_members me ON me.topic_id = t.id AND me.member_id = $2
       LEFT JOIN LATERAL (SELECT id, created_at FROM topic_messages x WHERE x.topic_id = t.id ORDER BY id DESC LIMIT 1) l ON true
       WHERE t.mesh_id = $1 AND (t.visibility = 'public' OR me.member_id IS NOT NULL)
       ORDER BY t.name`,
      [scope.state.mesh.id, scope.member.id],
    );
    return found
      .filter((t) => !scope.topics || scope.topics.has(t.name))
      .map((t) => ({
        name: t.name,
        visibility: t.visibility,
        description: t.description,
        encryption: t.encryption,
        history: t.history,
        created_at: t.created_at.getTime(),
        members: t.members,
        joined: t.joined,
        unread: t.unread,
        last_message_id: t.last_message_id === null ? null : String(t.last_message_id),
        last_message_at: t.last_message_at?.getTime() ?? null,
      }));
  }

  /** The topic if the scope may see it; otherwise the error that says why. */
  async resolve(scope: TopicScope, name: string): Promise<ResolvedTopic> {
    if (scope.topics && !scope.topics.has(name)) throw new ProtocolError('E_FORBIDDEN', `this key is limited to ${[...scope.topics].map((t) => `#${t}`).join(', ')}`);
    const known = scope.joined?.get(name);
    if (known) return known;
    const [t] = await preparedRows<ResolvedTopic>(
      this.ds,
      `SELECT t.id, t.mesh_id, t.name, t.visibility, t.description, t.encryption, t.history, t.created_at, me.member_id IS NOT NULL AS joined
       FROM topics t LEFT JOIN topic_members me ON me.topic_id = t.id AND me.member_id = $3 WHERE t.mesh_id = $1 AND t.name = $2`,
      [scope.state.mesh.id, name, scope.member.id],
    );
    if (!t) throw new ProtocolError('E_NOT_FOUND', `no topic #${name} in this mesh (list them: GET /api/v1/topics, claudemesh topic list)`);
    if (t.visibility === 'private' && !t.joined) throw new ProtocolError('E_FORBIDDEN', `#${name} is private; a member of it can add you`);
    const resolved = { ...t, id: String(t.id) };
    scope.joined?.remember(resolved);
    return resolved;
  }

  /**
   * Creates a topic; without `encryption` it is e2e, unless its creator is a REST-only human, who
   * could neither post to nor read an e2e topic: then plaintext (docs/topics.md "Encryption").
   */
  async create(scope: TopicScope, body: z.output<typeof CreateTopicBody>): Promise<TopicInfo> {
    if (scope.topics) throw new ProtocolError('E_FORBIDDEN', 'a topic-scoped key cannot create topics');
    const encryption = body.encryption ?? (scope.member.restOnly ? 'plaintext' : 'e2e');
    if (encryption === 'plaintext' && body.history === 'shared') {
      throw new ProtocolError('E_SCHEMA', 'history "shared" is for e2e topics (a plaintext topic\'s history is readable to every member anyway)');
    }
    const created = await transaction(this.ds, async (qr) => {
      const [t] = await rows<{ id: string }>(
        qr,
        `INSERT INTO topics (mesh_id, name, visibility, description, encryption, history, created_by_member_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (mesh_id, name) DO NOTHING RETURNING id`,
        [scope.state.mesh.id, body.name, body.visibility, body.description, encryption, body.history ?? 'since_join', scope.member.id],
      );
      if (!t) return false;
      await qr.query('INSERT INTO topic_members (topic_id, member_id) VALUES ($1, $2)', [t.id, scope.member.id]);
      return true;
    });
    if (!created) throw new ProtocolError('E_CONFLICT', `#${body.name} already exists; join it: claudemesh topic join ${body.name}`);
    return (await this.list(scope)).find((t) => t.name === body.name)!;
  }

  async join(scope: TopicScope, name: string): Promise<TopicInfo> {
    const t = await this.resolve(scope, name); // a private topic the caller is not in is refused here
    await this.ds.query('INSERT INTO topic_members (topic_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [t.id, scope.member.id]);
    return (await this.list(scope)).find((x) => x.name === name)!;
  }

  async leave(scope: TopicScope, name: string): Promise<{ left: boolean }> {
    const t = await this.resolve(scope, name);
    const [gone] = await rows<{ member_id: string }>(this.ds, 'DELETE FROM topic_members WHERE topic_id = $1 AND member_id = $2 RETURNING member_id', [t.id, scope.member.id]);
    // The member's streams of a private topic end now, not at their next re-read; its connections
    // (on every node) look the topic up again from now on.
    scope.joined?.forget(t.id);
    if (gone) this.bus.publish(memberTopic(scope.member.id), { kind: 'topic_left', topicId: t.id });
    return { left: gone !== undefined };
  }

  /** A member of a topic adds another member of the mesh (the way into a private topic). */
  async addMember(scope: TopicScope, name: string, selector: string): Promise<TopicMember[]> {
    const t = await this.resolve(scope, name);
    if (!t.joined) throw new ProtocolError('E_FORBIDDEN', `join #${name} before adding others to it`);
    const target = scope.state.byName.get(selector) ?? scope.state.byPubkey.get(selector);
    if (!target || target.revoked) throw new ProtocolError('E_UNKNOWN_TARGET', `no member ${selector} in this mesh`);
    await this.ds.query('INSERT INTO topic_members (topic_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [t.id, target.id]);
    return this.members(scope, name, () => false);
  }

  async members(scope: TopicScope, name: string, online: (memberId: string) => boolean): Promise<TopicMember[]> {
    const t = await this.resolve(scope, name);
    const found = await rows<{ member_id: string; joined_at: Date }>(this.ds, 'SELECT member_id, joined_at FROM topic_members WHERE topic_id = $1 ORDER BY joined_at, member_id', [t.id]);
    return found
      // A member whose join committed a moment ago may not be in the directory yet: left out until it is.
      .map((r) => ({ r, m: scope.state.byId.get(String(r.member_id)) }))
      .filter((x): x is { r: (typeof found)[number]; m: MemberRecord } => x.m !== undefined && !x.m.revoked)
      .map(({ r, m }) => ({ member_pubkey: m.pubkey, display_name: m.displayName, peer_type: m.peerType, joined_at: r.joined_at.getTime(), online: online(m.id) }));
  }

  /** A page of history: before an id (newest first, returned oldest first) or after one (catch-up). */
  async history(scope: TopicScope, name: string, q: z.output<typeof HistoryQuery>): Promise<{ messages: TopicMessage[]; has_more: boolean }> {
    const t = await this.resolve(scope, name);
    if (q.after !== undefined && !canExist(q.after)) return { messages: [], has_more: false };
    if (q.before !== undefined && !canExist(q.before)) q = { ...q, before: undefined };
    const after = q.after !== undefined;
    const found = await rows<MessageRow>(
      this.ds,
      `SELECT ${MESSAGE_COLUMNS} FROM topic_messages m JOIN topics t ON t.id = m.topic_id
       WHERE m.topic_id = $1 AND ${after ? 'm.id > $2' : '($2::bigint IS NULL OR m.id < $2)'}
       ORDER BY m.id ${after ? 'ASC' : 'DESC'} LIMIT $3`,
      [t.id, after ? q.after : (q.before ?? null), q.limit + 1],
    );
    const has_more = found.length > q.limit;
    const page = found.slice(0, q.limit);
    if (!after) page.reverse();
    return { messages: page.map((r) => toTopicMessage(scope.state, r)), has_more };
  }

  /**
   * Stores a message (idempotent by client id), records its mentions and reply, then publishes it.
   * The body version must be the topic's (E_TOPIC_MODE); a sealed body is checked first (sealed()).
   */
  async post(scope: TopicScope, name: string, body: TopicPost): Promise<{ message: TopicMessage; duplicate: boolean; epoch_due?: EpochDue }> {
    const t = await this.resolve(scope, name);
    const sealed = isSealed(body) ? body : null;
    const text = isSealed(body) ? null : body.text;
    if (t.encryption === 'e2e' && scope.member.restOnly) {
      throw new ProtocolError('E_TOPIC_MODE', `#${name} is end-to-end encrypted and ${scope.member.displayName} is a REST-only member without a keypair: it can read #${name} as ciphertext only, not post`);
    }
    if (t.encryption === 'e2e' && !sealed) {
      throw new ProtocolError('E_TOPIC_MODE', `#${name} is end-to-end encrypted: post body_version 2 (sealed under its current key epoch, topic_send or POST /api/v1/topics/${name}/messages), not text`);
    }
    if (t.encryption === 'plaintext' && sealed) throw new ProtocolError('E_TOPIC_MODE', `#${name} is a plaintext topic: post text (body_version 1)`);
    const clientId = body.client_id ?? randomId();
    let use: EpochUseNow | null = null;
    if (sealed) {
      try {
        use = await this.sealedPosts.check(scope, t, sealed, clientId);
      } catch (error) {
        // A retry of a stored sealed post is answered as a duplicate even when its epoch has been
        // rotated since (the sender would otherwise seal it again and post it twice). Looked up only
        // when a check refuses, so a first post costs no extra query.
        const stored = error instanceof ProtocolError ? await this.storedPost(scope, t, clientId, sealed, text) : null;
        if (stored) return stored;
        throw error;
      }
    }
    const epochScope = topicScope(t.name);
    /** The post's place under the scheduled bound, taken under the topic's lock (sealed posts). */
    let reserved: number | null = null;
    const release = (): void => {
      if (sealed && reserved !== null) this.sealedPosts.release(scope.state.mesh.id, epochScope, sealed.key_epoch);
      reserved = null;
    };
    // Posts to one topic are committed in batches (group commit): one lock-and-members read and one
    // commit for all that arrived while the previous batch was being written (TopicWriter).
    const stored = this.writer.enqueue({ scope, t, name, sealed, text, replyTo: body.reply_to, clientId, use, onReserved: (n) => (reserved = n) });
    const settled = stored.then((r) => {
      if (r === null) release();
      return r;
    }, (error: unknown) => {
      release();
      throw error;
    });
    const result = sealed ? await settled.catch(async (error: unknown) => {
      // As for a refusal of the checks above: a retry of a post stored before a rotation is a duplicate.
      const dup = error instanceof ProtocolError && error.code === 'E_EPOCH_STALE' ? await this.storedPost(scope, t, clientId, sealed, text) : null;
      if (dup) return { duplicate: dup };
      throw error;
    }) : await settled;
    if (result !== null && 'duplicate' in result) return result.duplicate;
    if (result === null) {
      const existing = await this.storedPost(scope, t, clientId, sealed, text);
      if (!existing) throw new ProtocolError('E_CONFLICT', `client_id ${clientId} was already used for another message`);
      return existing;
    }
    const message = toTopicMessage(scope.state, result.row);
    // After the commit: to the topic's streams, and to each member's WebSocket sessions but the sender's.
    this.bus.publish(topicChannel(t.id), { kind: 'topic', message });
    for (const id of result.members) if (id !== scope.member.id) this.bus.publish(memberTopic(id), { kind: 'topic', message });
    // Web Push of its mentions and replies: queued off the request path, never failing the post.
    if (result.notified > 0) this.push.notify(scope.state.mesh, message.id);
    this.statistics.posted();
    if (!sealed || !use) return { message, duplicate: false };
    const due = this.sealedPosts.due(sealed.key_epoch, reserved ?? use.sent, use);
    return due ? { message, duplicate: false, epoch_due: due } : { message, duplicate: false };
  }

  /**
   * The sender's stored post with this client id, as a duplicate answer; E_CONFLICT when the id was
   * used for another message (or topic); null when there is none.
   */
  private async storedPost(scope: TopicScope, t: ResolvedTopic, clientId: string, sealed: SealedPost | null, text: string | null): Promise<{ message: TopicMessage; duplicate: true } | null> {
    const [existing] = await rows<MessageRow>(
      this.ds,
      `SELECT ${MESSAGE_COLUMNS} FROM topic_messages m JOIN topics t ON t.id = m.topic_id WHERE m.sender_member_id = $1 AND m.client_id = $2`,
      [scope.member.id, clientId],
    );
    if (!existing) return null;
    const same = sealed ? existing.sig === sealed.sig : existing.body === text;
    if (String(existing.topic_id) !== t.id || !same) throw new ProtocolError('E_CONFLICT', `client_id ${clientId} was already used for another message`);
    return { message: toTopicMessage(scope.state, existing), duplicate: true };
  }

  async markRead(scope: TopicScope, name: string, body: z.output<typeof MarkReadBody>): Promise<{ topic: string; last_read_id: string; unread: number }> {
    const t = await this.resolve(scope, name);
    // A mark never passes the newest message: an id beyond it (or beyond the id range) marks all read, not the future.
    const upTo = body.message_id !== undefined && canExist(body.message_id) ? body.message_id : null;
    const [row] = await rows<{ last_read_id: string }>(
      this.ds,
      `INSERT INTO topic_members (topic_id, member_id, last_read_id)
       VALUES ($1, $2, coalesce(least($3::bigint, (SELECT max(id) FROM topic_messages WHERE topic_id = $1)), (SELECT max(id) FROM topic_messages WHERE topic_id = $1), 0))
       ON CONFLICT (topic_id, member_id) DO UPDATE SET last_read_id = greatest(topic_members.last_read_id, EXCLUDED.last_read_id)
       RETURNING last_read_id`,
      [t.id, scope.member.id, upTo],
    );
    // Unread counts the same way as list(): above the mark, not sent by the member.
    const [count] = await rows<{ unread: number }>(
      this.ds,
      'SELECT count(*)::int AS unread FROM topic_messages WHERE topic_id = $1 AND id > $2 AND sender_member_id <> $3',
      [t.id, row!.last_read_id, scope.member.id],
    );
    return { topic: name, last_read_id: String(row!.last_read_id), unread: count!.unread };
  }

  /**
   * Full-text search (Postgres `simple` configuration) over the topics the scope may read. Its cost
   * is bounded: matching uses the stored tsvector and its GIN index, only the newest
   * `candidates` matches are ranked, few searches run at once (SearchGate), and Postgres cancels
   * one that runs past the statement timeout.
   */
  async search(scope: TopicScope, q: z.output<typeof SearchQuery>): Promise<TopicMessage[]> {
    if (q.topic) await this.resolve(scope, q.topic);
    const { candidates, statementTimeoutMs } = this.searchLimits;
    const params = [
      scope.state.mesh.id, scope.member.id, q.q, q.topic ?? null, scope.topics ? [...scope.topics] : null, Math.min(q.limit, TOPIC_LIMITS.maxSearchResults), candidates,
    ];
    try {
      const found = await this.searches.run(() =>
        transaction(this.ds, async (qr) => {
          await qr.query(`SELECT set_config('statement_timeout', $1, true)`, [String(statementTimeoutMs)]);
          return rows<MessageRow>(qr, SEARCH_SQL, params);
        }),
      );
      return found.map((r) => toTopicMessage(scope.state, r));
    } catch (error) {
      if ((error as { code?: unknown }).code === QUERY_CANCELED) {
        throw new ProtocolError('E_UNAVAILABLE', `the search ran past ${statementTimeoutMs} ms and was stopped; narrow it (a topic, more or rarer words) or retry later`);
      }
      throw error;
    }
  }

  /** The newest messages across the topics the scope has joined (the workspace's activity feed). */
  async activity(scope: TopicScope, limit: number): Promise<TopicMessage[]> {
    const found = await rows<MessageRow>(
      this.ds,
      `SELECT ${MESSAGE_COLUMNS} FROM topic_messages m JOIN topics t ON t.id = m.topic_id
       JOIN topic_members me ON me.topic_id = t.id AND me.member_id = $2
       WHERE m.mesh_id = $1 AND ($3::text[] IS NULL OR t.name = ANY($3::text[])) ORDER BY m.id DESC LIMIT $4`,
      [scope.state.mesh.id, scope.member.id, scope.topics ? [...scope.topics] : null, limit],
    );
    return found.map((r) => toTopicMessage(scope.state, r));
  }
}
