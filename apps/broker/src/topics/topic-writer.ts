import { ProtocolError } from '@claudemesh/core';
import { topicScope } from '@claudemesh/crypto';
import type { DataSource } from 'typeorm';
import { preparedRows, rows, transaction } from '../db/sql.js';
import { currentEpochSql } from '../epochs/current-epoch.js';
import type { MemberRecord } from '../meshes/mesh-directory.js';
import type { AnalyticsRecorder } from '../analytics/analytics.recorder.js';
import type { BrokerMetrics } from '../metrics/broker-metrics.js';
import type { EpochUseNow, SealedPostCheck } from './sealed-post.check.js';
import { mentionedNames, type MessageRow } from './topic-rows.js';
import { canExist, type ResolvedTopic, type SealedPost, type TopicScope } from './topics.service.js';

/** One post in its topic's write queue (TopicWriter.commitPosts). */
export interface PostJob {
  scope: TopicScope;
  t: ResolvedTopic;
  name: string;
  sealed: SealedPost | null;
  text: string | null;
  replyTo: string | undefined;
  clientId: string;
  use: EpochUseNow | null;
  /** Its place under the epoch's scheduled bound, taken under the topic's lock. */
  onReserved: (n: number) => void;
  resolve?: (r: StoredPost | null) => void;
  reject?: (error: unknown) => void;
}

export interface StoredPost {
  row: MessageRow;
  members: string[];
  /** Mentions and replies recorded with it (Web Push looks them up after the commit). */
  notified: number;
}

/** The topic's row lock, its members and its current epoch (sealed posts): the batch's first statement. */
const LOCK_SEALED = `SELECT ${currentEpochSql(2, 3)} AS current_epoch, ARRAY(SELECT member_id::text FROM topic_members WHERE topic_id = $1) AS members
  FROM topics WHERE id = $1 FOR NO KEY UPDATE`;
const LOCK_PLAIN = `SELECT 0 AS current_epoch, ARRAY(SELECT member_id::text FROM topic_members WHERE topic_id = $1) AS members
  FROM topics WHERE id = $1 FOR NO KEY UPDATE`;

/** The batch's rows, inserted (and so numbered) in the batch's order. */
const INSERT_POSTS = `INSERT INTO topic_messages (topic_id, mesh_id, sender_member_id, client_id, reply_to, body_version, body, nonce, ciphertext, key_epoch, sig)
  SELECT $1, $2, u.sender, u.client_id, u.reply_to, u.body_version, u.body, decode(u.nonce, 'base64'), decode(u.ciphertext, 'base64'), u.key_epoch, u.sig
  FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::smallint[], $7::text[], $8::text[], $9::text[], $10::int[], $11::text[])
    WITH ORDINALITY AS u(sender, client_id, reply_to, body_version, body, nonce, ciphertext, key_epoch, sig, ord)
  ORDER BY u.ord
  ON CONFLICT (sender_member_id, client_id) DO NOTHING RETURNING id, created_at, sender_member_id, client_id`;

/**
 * A batch of sealed posts with nothing but rows to write (no reply, no mention, every sender in the
 * topic already): the topic's lock, its members and current epoch, and the rows under that epoch,
 * in **one statement** and so one implicit transaction — one round trip to the database instead of
 * four (BEGIN, lock, insert, COMMIT), the most of a post's cost on a busy broker. The lock is taken
 * before any row is numbered (the insert joins the lock's row), so batches still commit in id order.
 */
const INSERT_SEALED_LOCKED = `WITH lk AS (
    SELECT ${currentEpochSql(2, 3)} AS current_epoch, ARRAY(SELECT member_id::text FROM topic_members WHERE topic_id = $1) AS members
    FROM topics WHERE id = $1 FOR NO KEY UPDATE
  ), ins AS (
    INSERT INTO topic_messages (topic_id, mesh_id, sender_member_id, client_id, body_version, nonce, ciphertext, key_epoch, sig)
    SELECT $1, $2, u.sender, u.client_id, 2, decode(u.nonce, 'base64'), decode(u.ciphertext, 'base64'), u.key_epoch, u.sig
    FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[]) WITH ORDINALITY AS u(sender, client_id, nonce, ciphertext, key_epoch, sig, ord)
    JOIN lk ON u.key_epoch = lk.current_epoch
    ORDER BY u.ord
    ON CONFLICT (sender_member_id, client_id) DO NOTHING RETURNING id, created_at, sender_member_id, client_id
  )
  SELECT lk.current_epoch, lk.members,
    ARRAY(SELECT ins.id::text FROM ins ORDER BY ins.id) AS ids,
    ARRAY(SELECT ins.created_at FROM ins ORDER BY ins.id) AS created,
    ARRAY(SELECT ins.sender_member_id::text || '|' || ins.client_id FROM ins ORDER BY ins.id) AS keys
  FROM lk`;

/** Posts one topic commits together at most (a batch holds the topic's lock for all of them). */
const MAX_POST_BATCH = 128;

/**
 * The group commit of topic posts (docs/performance.md "Group commit"): posts to one topic queue up
 * while the topic's previous batch is being written, and go together in the next transaction — one
 * statement for the row lock, the members and the current epoch, one multi-row INSERT, one commit.
 * A batch of sealed posts that only adds rows (the usual one in an end-to-end topic) is all of that
 * in one statement (INSERT_SEALED_LOCKED, commitSealedRows).
 */
export class TopicWriter {
  private readonly postQueues = new Map<string, PostJob[]>();

  constructor(
    private readonly ds: DataSource,
    private readonly sealedPosts: SealedPostCheck,
    private readonly metrics?: BrokerMetrics,
    private readonly analytics?: AnalyticsRecorder,
  ) {}

  /** Queues a post for its topic's next batch; starts the topic's writer when none runs. */
  enqueue(job: PostJob): Promise<StoredPost | null> {
    return new Promise<StoredPost | null>((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
      const queue = this.postQueues.get(job.t.id);
      if (queue) {
        queue.push(job);
        return;
      }
      this.postQueues.set(job.t.id, [job]);
      void this.writePosts(job.t.id);
    });
  }

  /** Writes a topic's queued posts, a batch at a time, until none wait. */
  private async writePosts(topicId: string): Promise<void> {
    for (;;) {
      const queue = this.postQueues.get(topicId)!;
      if (queue.length === 0) {
        this.postQueues.delete(topicId);
        return;
      }
      const batch = queue.splice(0, MAX_POST_BATCH);
      const started = performance.now();
      try {
        const results = await this.commitPosts(batch);
        results.forEach((r, i) => (r instanceof Error ? batch[i]!.reject!(r) : batch[i]!.resolve!(r)));
        for (const r of results) if (r && !(r instanceof Error)) this.analytics?.topicPost(batch[0]!.scope.state.mesh.id, topicId, r.row.created_at.getTime(), r.row.ciphertext?.length ?? Buffer.byteLength(r.row.body ?? ''));
      } catch (error) {
        // The transaction failed as a whole (database unavailable, …): nothing of the batch is stored.
        for (const job of batch) job.reject!(error);
      }
      this.metrics?.topicCommit(batch.length, (performance.now() - started) / 1000);
    }
  }

  /**
   * Stores a batch of posts to one topic in one transaction. Posts to one topic commit in id order
   * (ids are taken at INSERT, commits could otherwise cross), so a stream resuming after id N can
   * never miss a lower id committed later: the topic's row lock orders batches across nodes, and a
   * batch's ids are its order. A sealed post's epoch, checked against what this node last read, is
   * confirmed current under that lock. A post refused on its own (stale epoch, unknown reply_to) is
   * that post's error, not the batch's: its checks run no statement that could fail.
   */
  private async commitPosts(batch: PostJob[]): Promise<Array<StoredPost | null | ProtocolError>> {
    if (batch.every((j) => j.sealed && j.sealed.mentions.length === 0 && j.replyTo === undefined && j.t.joined)) return this.commitSealedRows(batch);
    const t = batch[0]!.t;
    const state = batch[0]!.scope.state;
    const epochScope = topicScope(t.name);
    return transaction(this.ds, async (qr) => {
      // The topic's row lock, its members and (for sealed posts) its current epoch in one statement.
      const [lock] = batch.some((j) => j.sealed)
        ? await preparedRows<{ current_epoch: number; members: string[] }>(qr, LOCK_SEALED, [t.id, state.mesh.id, epochScope])
        : await preparedRows<{ current_epoch: number; members: string[] }>(qr, LOCK_PLAIN, [t.id]);
      const current = Number(lock?.current_epoch ?? 0);
      const inTopic = new Set(lock?.members ?? []);
      const out: Array<StoredPost | null | ProtocolError> = new Array<StoredPost | null | ProtocolError>(batch.length).fill(null);
      const stored: StoredPost[] = [];
      /** The posts that passed their own checks, with their index in the batch and the sender of the message they reply to. */
      const ready: Array<{ i: number; job: PostJob; parentSender: string | null }> = [];
      for (const [i, job] of batch.entries()) {
        const { scope, sealed } = job;
        if (sealed) {
          if (current !== sealed.key_epoch) {
            this.sealedPosts.stale(state.mesh.id, epochScope);
            out[i] = new ProtocolError('E_EPOCH_STALE', `the current key epoch of #${job.name} is ${current}: sync it, encrypt again and resend`, { current_epoch: current });
            continue;
          }
          job.onReserved(this.sealedPosts.reserve(state.mesh.id, epochScope, sealed.key_epoch, `#${job.name}`, job.use!));
        }
        let parentSender: string | null = null;
        if (job.replyTo !== undefined) {
          const [parent] = canExist(job.replyTo)
            ? await rows<{ topic_id: string; sender_member_id: string }>(qr, 'SELECT topic_id, sender_member_id FROM topic_messages WHERE id = $1', [job.replyTo])
            : [];
          if (!parent || String(parent.topic_id) !== t.id) {
            out[i] = new ProtocolError('E_SCHEMA', `reply_to ${job.replyTo} is not a message of #${job.name}`);
            continue;
          }
          parentSender = String(parent.sender_member_id);
        }
        if (!job.t.joined && !inTopic.has(scope.member.id)) {
          await qr.query('INSERT INTO topic_members (topic_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [t.id, scope.member.id]);
          inTopic.add(scope.member.id);
        }
        ready.push({ i, job, parentSender });
      }
      // One statement for the batch's rows, inserted (and so numbered) in the batch's order; a client
      // id already stored (or twice in the batch) inserts nothing and answers null for that post.
      const col = <T>(f: (j: PostJob) => T): T[] => ready.map((r) => f(r.job));
      const b64 = (v: string | undefined): string | null => (v === undefined ? null : Buffer.from(v, 'base64url').toString('base64'));
      const inserted = ready.length === 0 ? [] : await preparedRows<{ id: string; created_at: Date; sender_member_id: string; client_id: string }>(
        qr,
        INSERT_POSTS,
        [
          t.id, state.mesh.id, col((j) => j.scope.member.id), col((j) => j.clientId), col((j) => j.replyTo ?? null), col((j) => (j.sealed ? 2 : 1)), col((j) => j.text),
          col((j) => b64(j.sealed?.nonce)), col((j) => b64(j.sealed?.ciphertext)), col((j) => j.sealed?.key_epoch ?? null), col((j) => j.sealed?.sig ?? null),
        ],
      );
      const byKey = new Map(inserted.map((r) => [`${String(r.sender_member_id)}|${r.client_id}`, r]));
      for (const { i, job, parentSender } of ready) {
        const { scope, sealed, text } = job;
        const key = `${scope.member.id}|${job.clientId}`;
        const row0 = byKey.get(key);
        // The first post of the batch with this key took the row; a repeat of it is a duplicate.
        byKey.delete(key);
        if (!row0) continue;
        // Who may read it: every active member for a public topic, its members for a private one.
        const readers = (m: MemberRecord): boolean => !m.revoked && (t.visibility === 'public' || inTopic.has(m.id));
        // A sealed post names its mentions (the broker cannot read the text); text is read for them.
        const mentioned = (sealed ? [...new Set(sealed.mentions)].map((k) => state.byPubkey.get(k)) : mentionedNames(text ?? '').map((n) => state.byName.get(n)))
          .filter((m): m is MemberRecord => m !== undefined && m.id !== scope.member.id && readers(m));
        const notes: Array<[string, 'mention' | 'reply']> = mentioned.map((m) => [m.id, 'mention']);
        const parent = parentSender ? state.byId.get(parentSender) : undefined;
        if (parent && parent.id !== scope.member.id && readers(parent)) notes.push([parent.id, 'reply']);
        if (notes.length > 0) {
          await qr.query(
            `INSERT INTO notifications (mesh_id, member_id, kind, topic_id, message_id, actor_member_id)
             SELECT $1, u.member_id, u.kind, $2, $3, $4 FROM unnest($5::bigint[], $6::text[]) AS u(member_id, kind) ON CONFLICT DO NOTHING`,
            [state.mesh.id, t.id, row0.id, scope.member.id, notes.map((n) => n[0]), notes.map((n) => n[1])],
          );
        }
        // The stored row, as a SELECT of it would read it back (mentions in member-id order).
        const row: MessageRow = {
          id: String(row0.id),
          topic_id: t.id,
          topic: t.name,
          sender_member_id: scope.member.id,
          client_id: job.clientId,
          reply_to: job.replyTo ?? null,
          body_version: sealed ? 2 : 1,
          body: text,
          nonce: sealed ? Buffer.from(sealed.nonce, 'base64url') : null,
          ciphertext: sealed ? Buffer.from(sealed.ciphertext, 'base64url') : null,
          key_epoch: sealed?.key_epoch ?? null,
          sig: sealed?.sig ?? null,
          created_at: row0.created_at,
          mentions: mentioned.map((m) => m.id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)),
        };
        const result = { row, members: [] as string[], notified: notes.length };
        stored.push(result);
        out[i] = result;
      }
      // Everyone in the topic once the batch is in, the batch's own joiners included.
      const members = [...inTopic];
      for (const r of stored) r.members = members;
      return out;
    });
  }

  /**
   * commitPosts for a batch of sealed posts that only add rows (INSERT_SEALED_LOCKED). Each post
   * takes its place under the epoch's scheduled bound before the statement (this node writes one
   * batch of a topic at a time, so the bound stays exact here); a post the statement did not store
   * gives it back through its caller, as a refusal or a duplicate does on the other path.
   */
  private async commitSealedRows(batch: PostJob[]): Promise<Array<StoredPost | null | ProtocolError>> {
    const t = batch[0]!.t;
    const state = batch[0]!.scope.state;
    const epochScope = topicScope(t.name);
    const out: Array<StoredPost | null | ProtocolError> = new Array<StoredPost | null | ProtocolError>(batch.length).fill(null);
    const ready: Array<{ i: number; job: PostJob; sealed: SealedPost }> = [];
    for (const [i, job] of batch.entries()) {
      const sealed = job.sealed!;
      try {
        job.onReserved(this.sealedPosts.reserve(state.mesh.id, epochScope, sealed.key_epoch, `#${job.name}`, job.use!));
        ready.push({ i, job, sealed });
      } catch (error) {
        out[i] = error as ProtocolError;
      }
    }
    if (ready.length === 0) return out;
    const col = <T>(f: (r: { job: PostJob; sealed: SealedPost }) => T): T[] => ready.map(f);
    const b64 = (v: string): string => Buffer.from(v, 'base64url').toString('base64');
    const [res] = await preparedRows<{ current_epoch: number; members: string[]; ids: string[]; created: Date[]; keys: string[] }>(this.ds, INSERT_SEALED_LOCKED, [
      t.id, state.mesh.id, epochScope,
      col((r) => r.job.scope.member.id), col((r) => r.job.clientId), col((r) => b64(r.sealed.nonce)), col((r) => b64(r.sealed.ciphertext)), col((r) => r.sealed.key_epoch), col((r) => r.sealed.sig),
    ]);
    const current = Number(res?.current_epoch ?? 0);
    const members = res?.members ?? [];
    const byKey = new Map((res?.keys ?? []).map((key, n) => [key, n]));
    for (const { i, job, sealed } of ready) {
      if (sealed.key_epoch !== current) {
        this.sealedPosts.stale(state.mesh.id, epochScope);
        out[i] = new ProtocolError('E_EPOCH_STALE', `the current key epoch of #${job.name} is ${current}: sync it, encrypt again and resend`, { current_epoch: current });
        continue;
      }
      const key = `${job.scope.member.id}|${job.clientId}`;
      const n = byKey.get(key);
      // Not inserted: a client id already stored (or twice in the batch: the first took the row).
      byKey.delete(key);
      if (n === undefined) continue;
      const row: MessageRow = {
        id: res!.ids[n]!, topic_id: t.id, topic: t.name, sender_member_id: job.scope.member.id, client_id: job.clientId, reply_to: null, body_version: 2, body: null,
        nonce: Buffer.from(sealed.nonce, 'base64url'), ciphertext: Buffer.from(sealed.ciphertext, 'base64url'), key_epoch: sealed.key_epoch, sig: sealed.sig,
        created_at: new Date(res!.created[n]!), mentions: [],
      };
      out[i] = { row, members, notified: 0 };
    }
    return out;
  }
}
