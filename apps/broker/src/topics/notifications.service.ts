import { Injectable } from '@nestjs/common';
import type { Notification, NotificationsQuery } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import type { z } from 'zod';
import { rows } from '../db/sql.js';
import { MESSAGE_COLUMNS, toNotification, toTopicMessage, type MessageRow, type NotificationRow } from './topic-rows.js';
import type { TopicScope } from './topics.service.js';

/**
 * A notification `n` (joined with its topic `t`) that its member may see now: it can still read the
 * message (a public topic, or a private one it is still in), and it has not blocked the author.
 * Decided when read, not when written: leaving a topic or blocking a peer hides what came before too.
 */
export const VISIBLE = `(t.visibility = 'public' OR EXISTS (SELECT 1 FROM topic_members tm WHERE tm.topic_id = t.id AND tm.member_id = n.member_id))
  AND NOT EXISTS (SELECT 1 FROM peer_grants g WHERE g.owner_member_id = n.member_id AND g.peer_member_id = n.actor_member_id AND g.blocked)`;

/**
 * Mentions and replies, recorded when a message was written (TopicsService.post); read here. A
 * mention by a peer the member blocked is still recorded, so the message's `mentions` (which its
 * author sees) does not tell the author about the block; it is never shown while the block stands.
 */
@Injectable()
export class NotificationsService {
  constructor(private readonly ds: DataSource) {}

  async list(scope: TopicScope, q: z.output<typeof NotificationsQuery>): Promise<Notification[]> {
    const unreadOnly = q.unread === 'true' || q.unread === '1';
    const found = await rows<NotificationRow & MessageRow & { notification_id: string; notification_created_at: Date }>(
      this.ds,
      `SELECT n.id AS notification_id, n.kind, n.actor_member_id, n.created_at AS notification_created_at, n.read_at, ${MESSAGE_COLUMNS}
       FROM notifications n JOIN topic_messages m ON m.id = n.message_id JOIN topics t ON t.id = m.topic_id
       WHERE n.member_id = $1 AND ($2::boolean IS FALSE OR n.read_at IS NULL) AND ($3::text[] IS NULL OR t.name = ANY($3::text[])) AND ${VISIBLE}
       ORDER BY n.id DESC LIMIT $4`,
      [scope.member.id, unreadOnly, scope.topics ? [...scope.topics] : null, q.limit],
    );
    return found.map((r) =>
      toNotification(scope.state, { id: r.notification_id, kind: r.kind, actor_member_id: r.actor_member_id, created_at: r.notification_created_at, read_at: r.read_at }, toTopicMessage(scope.state, r)),
    );
  }

  /** Marks the given notifications (or all of them) read, among those the scope sees; returns how many changed. */
  async markRead(scope: TopicScope, ids?: string[]): Promise<{ marked: number }> {
    // Ids beyond the bigint range name no notification (and must not reach SQL).
    if (ids) ids = ids.filter((id) => BigInt(id) <= 2n ** 63n - 1n);
    if (ids && ids.length === 0) return { marked: 0 };
    const changed = await rows<{ id: string }>(
      this.ds,
      `UPDATE notifications n SET read_at = now() FROM topics t
       WHERE t.id = n.topic_id AND n.member_id = $1 AND n.read_at IS NULL AND ($2::bigint[] IS NULL OR n.id = ANY($2::bigint[]))
         AND ($3::text[] IS NULL OR t.name = ANY($3::text[])) AND ${VISIBLE}
       RETURNING n.id`,
      [scope.member.id, ids ?? null, scope.topics ? [...scope.topics] : null],
    );
    return { marked: changed.length };
  }
}
