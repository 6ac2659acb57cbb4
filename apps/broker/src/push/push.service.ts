import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { DeletePushBody, PUSH_LIMITS, ProtocolError, PushSubscriptionBody, type PushPayload } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import webpush from 'web-push';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { rows } from '../db/sql.js';
import { RateLimitedError } from '../http/rate-limited.error.js';
import { VISIBLE } from '../topics/notifications.service.js';
import { PushQueue } from './push-queue.js';
import { ensureVapidKeys, vapidSubjectOf, type VapidKeys } from './vapid.js';

/** Pushes waiting at most (per broker); one more drops the oldest. */
export const PUSH_QUEUE_CAPACITY = 1_000;
/** Pushes in flight at once. */
export const PUSH_CONCURRENCY = 4;
/** A push service that has not answered within this is a failure. */
export const PUSH_TIMEOUT_MS = 10_000;
/** How long the push service keeps a push for an offline device (the `TTL` header, seconds). */
export const PUSH_TTL_S = 24 * 3600;
/** Failed pushes in a row after which a subscription is deleted. */
export const PUSH_MAX_FAILURES = 5;

interface PushJob {
  subscriptionId: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  payload: PushPayload;
}

/**
 * Web Push (docs/web.md "Web Push", docs/protocol.md §8.6): browsers' push subscriptions per API
 * key, and the pushes of mentions and replies after their post commits. The payload names the
 * kind, mesh, topic, actor and message id — never the message text (which an e2e topic's broker
 * cannot read anyway). Encryption (RFC 8291 aes128gcm) and the VAPID JWT (RFC 8292) are the
 * `web-push` package's; the request is sent here, with fetch, for a timeout of our own and so a
 * loopback http push service (tests) works too. Endpoints and payloads are never logged.
 */
@Injectable()
export class PushService implements OnApplicationShutdown {
  private readonly logger = new Logger('Push');
  readonly vapid: VapidKeys;
  readonly subject: string;
  readonly enabled: boolean;
  private readonly httpLoopback: boolean;
  private readonly queue: PushQueue<PushJob>;
  private readonly inFlight = new Set<AbortController>();
  /** Posts whose subscriptions are being looked up (not yet queued). */
  private collecting = 0;

  constructor(
    private readonly ds: DataSource,
    @Inject(BROKER_CONFIG) config: BrokerConfig,
  ) {
    this.enabled = config.push.enabled;
    this.httpLoopback = config.push.httpLoopback;
    this.vapid = ensureVapidKeys(config.dataDir, { publicKey: config.push.vapidPublicKey, privateKey: config.push.vapidPrivateKey });
    this.subject = vapidSubjectOf(config.push.vapidSubject, config.publicUrl, config.host);
    this.queue = new PushQueue(PUSH_QUEUE_CAPACITY, PUSH_CONCURRENCY, (job) => this.send(job));
  }

  /** Pushes dropped because the queue was full, since the start. */
  get dropped(): number {
    return this.queue.dropped;
  }

  /** Nothing looked up, waiting or being sent (tests wait for it instead of for time). */
  get idle(): boolean {
    return this.collecting === 0 && this.queue.pending === 0 && this.queue.active === 0;
  }

  onApplicationShutdown(): void {
    this.queue.close();
    for (const c of this.inFlight) c.abort();
  }

  /** Stores the calling key's subscription; the same endpoint again updates it in place. */
  async subscribe(caller: ApiCaller, body: z.output<typeof PushSubscriptionBody>): Promise<{ id: string; created_at: number }> {
    if (!this.enabled) throw new ProtocolError('E_NOT_FOUND', 'web push is off on this broker (CLAUDEMESH_PUSH=off)');
    if (new URL(body.endpoint).protocol !== 'https:' && !this.httpLoopback) {
      throw new ProtocolError('E_SCHEMA', 'endpoint: expected the push service’s https URL');
    }
    const kinds = body.kinds ?? ['mention', 'reply'];
    type Row = { id: string; created_at: Date };
    const updated = await rows<Row>(
      this.ds,
      'UPDATE push_subscriptions SET p256dh = $3, auth = $4, kinds = $5, failures = 0 WHERE key_id = $1 AND endpoint = $2 RETURNING id, created_at',
      [caller.keyId, body.endpoint, body.keys.p256dh, body.keys.auth, kinds],
    );
    let row = updated[0];
    if (!row) {
      // One device is one endpoint: the member's older keys (an earlier sign-in in this browser) let it go.
      await rows(this.ds, 'DELETE FROM push_subscriptions WHERE member_id = $1 AND endpoint = $2 AND key_id <> $3', [caller.member.id, body.endpoint, caller.keyId]);
      const inserted = await rows<Row>(
        this.ds,
        `INSERT INTO push_subscriptions (mesh_id, member_id, key_id, endpoint, p256dh, auth, kinds)
         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE (SELECT count(*) FROM push_subscriptions WHERE key_id = $3) < $8
         ON CONFLICT (key_id, endpoint) DO UPDATE SET p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, kinds = EXCLUDED.kinds, failures = 0
         RETURNING id, created_at`,
        [caller.state.mesh.id, caller.member.id, caller.keyId, body.endpoint, body.keys.p256dh, body.keys.auth, kinds, PUSH_LIMITS.maxPerKey],
      );
      row = inserted[0];
    }
    if (!row) throw new RateLimitedError(`this key holds ${PUSH_LIMITS.maxPerKey} push subscriptions already; delete one (DELETE /api/v1/me/push) first`, 60_000);
    return { id: String(row.id), created_at: new Date(row.created_at).getTime() };
  }

  /** Deletes the calling key's subscription with this endpoint, or all of them. */
  async unsubscribe(caller: ApiCaller, body: z.output<typeof DeletePushBody>): Promise<{ removed: number }> {
    const gone = await rows<{ id: string }>(this.ds, 'DELETE FROM push_subscriptions WHERE key_id = $1 AND ($2::text IS NULL OR endpoint = $2) RETURNING id', [caller.keyId, body.endpoint ?? null]);
    return { removed: gone.length };
  }

  /**
   * After a post that recorded notifications has committed: queues a push to each subscription of
   * each notified member that may still see the notification (as GET /notifications decides), whose
   * key still works and reaches the topic, and that wants the kind. Never throws; never awaited by a post.
   */
  notify(mesh: { id: string; name: string }, messageId: string): void {
    if (!this.enabled) return;
    this.collecting++;
    void this.collect(mesh, messageId)
      .catch((error: unknown) => this.logger.warn(`push of message ${messageId} not queued: ${(error as Error).message}`))
      .finally(() => this.collecting--);
  }

  private async collect(mesh: { id: string; name: string }, messageId: string): Promise<void> {
    // One query in the common case: the subscriptions that may get this message's notifications,
    // with whether their key still works (those of a dead key are deleted here, lazily, never used).
    const found = await rows<{ id: string; endpoint: string; p256dh: string; auth: string; kind: 'mention' | 'reply'; topic: string; actor: string; key_ok: boolean }>(
      this.ds,
      `SELECT s.id, s.endpoint, s.p256dh, s.auth, n.kind, t.name AS topic, a.display_name AS actor,
              (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())) AS key_ok
       FROM notifications n
       JOIN topics t ON t.id = n.topic_id
       JOIN members m ON m.id = n.member_id
       JOIN members a ON a.id = n.actor_member_id
       JOIN push_subscriptions s ON s.member_id = n.member_id AND n.kind = ANY(s.kinds)
       JOIN api_keys k ON k.id = s.key_id
       WHERE n.message_id = $1 AND m.revoked_at IS NULL AND 'read' = ANY(k.capabilities)
         AND (k.topics IS NULL OR t.name = ANY(k.topics))
         AND (m.scope_capabilities IS NULL OR 'read' = ANY(m.scope_capabilities))
         AND (m.scope_topics IS NULL OR t.name = ANY(m.scope_topics))
         AND ${VISIBLE}
       ORDER BY s.id`,
      [messageId],
    );
    const dead = found.filter((r) => !r.key_ok).map((r) => String(r.id));
    if (dead.length > 0) await rows(this.ds, 'DELETE FROM push_subscriptions WHERE id = ANY($1::bigint[])', [dead]);
    for (const r of found.filter((x) => x.key_ok)) {
      this.queue.push({
        subscriptionId: String(r.id),
        endpoint: r.endpoint,
        p256dh: r.p256dh,
        auth: r.auth,
        payload: { v: 1, kind: r.kind, mesh_id: mesh.id, mesh_name: mesh.name, topic: r.topic, actor: r.actor, message_id: messageId, url: `#/m/${mesh.id}/t/${r.topic}` },
      });
    }
  }

  private async send(job: PushJob): Promise<void> {
    let status: number;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), PUSH_TIMEOUT_MS);
    this.inFlight.add(abort);
    try {
      const details = webpush.generateRequestDetails({ endpoint: job.endpoint, keys: { p256dh: job.p256dh, auth: job.auth } }, JSON.stringify(job.payload), {
        vapidDetails: { subject: this.subject, publicKey: this.vapid.publicKey, privateKey: this.vapid.privateKey },
        TTL: PUSH_TTL_S,
        urgency: job.payload.kind === 'mention' ? 'high' : 'normal',
        contentEncoding: 'aes128gcm',
      });
      // fetch sets Content-Length from the body itself.
      const headers = Object.fromEntries(Object.entries(details.headers).filter(([k]) => k.toLowerCase() !== 'content-length').map(([k, v]) => [k, String(v)]));
      const res = await fetch(details.endpoint, { method: 'POST', headers, body: details.body ?? undefined, redirect: 'manual', signal: abort.signal });
      status = res.status;
      await res.body?.cancel().catch(() => undefined);
    } catch (error) {
      status = 0;
      this.logger.debug(`push to subscription ${job.subscriptionId} failed: ${abort.signal.aborted ? 'timed out' : (error as Error).name}`);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(abort);
    }
    try {
      if (status >= 200 && status < 300) {
        await rows(this.ds, 'UPDATE push_subscriptions SET last_sent_at = now(), failures = 0 WHERE id = $1', [job.subscriptionId]);
      } else if (status === 404 || status === 410) {
        // The push service says the subscription is gone (the browser unsubscribed, or it expired).
        await rows(this.ds, 'DELETE FROM push_subscriptions WHERE id = $1', [job.subscriptionId]);
      } else {
        if (status !== 0) this.logger.debug(`push to subscription ${job.subscriptionId}: the push service answered ${status}`);
        const [r] = await rows<{ failures: number }>(this.ds, 'UPDATE push_subscriptions SET failures = failures + 1 WHERE id = $1 RETURNING failures', [job.subscriptionId]);
        if (r && r.failures >= PUSH_MAX_FAILURES) await rows(this.ds, 'DELETE FROM push_subscriptions WHERE id = $1', [job.subscriptionId]);
      }
    } catch (error) {
      // The database may be closing (shutdown) or out: the push is not retried.
      this.logger.debug(`push bookkeeping of subscription ${job.subscriptionId} failed: ${(error as Error).message}`);
    }
  }
}
