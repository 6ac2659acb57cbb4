import { Injectable } from '@nestjs/common';
import type { Notification, NotificationsQuery } from '@claudemesh/core';
import { DataSource } from 'typeorm';
import type { z } from 'zod';
import { rows } from '../db/sql.js';
import { MESSAGE_COLUMNS, toNotification, toTopicMessage, type MessageRow, type NotificationRow } from './topic-rows.js';
import type { TopicScope } from './topics.service.js';

/** Mentions and replies, recorded when a message was written (TopicsService.post); read here. */
@Injectable()
export class NotificationsService {
  constructor(private readonly ds: DataSource) {}

  async list(scope: TopicScope, q: z.output<typeof NotificationsQuery>): Promise<Notification[]> {
    const unreadOnly = q.unread === 'true' || q.unread === '1';
    const found = await rows<NotificationRow & MessageRow & { notification_id: string; notification_created_at: Date }>(
      this.ds,
      `SELECT n.id AS notification_id, n.kind, n.actor_member_id, n.created_at AS notification_created_at, n.read_at, ${MESSAGE_COLUMNS}
       FROM notifications n JOIN topic_messages m ON m.id = n.message_id JOIN topics t ON t.id = m.topic_id
       WHERE n.member_id = $1 AND ($2::boolean IS FALSE OR n.read_at IS NULL) AND ($3::text[] IS NULL OR t.name = ANY($3::text[]))
       ORDER BY n.id DESC LIMIT $4`,
      [scope.member.id, unreadOnly, scope.topics ? [...scope.topics] : null, q.limit],
    );
    return found.map((r) =>
      toNotification(scope.state, { id: r.notification_id, kind: r.kind, actor_member_id: r.actor_member_id, created_at: r.notification_created_at, read_at: r.read_at }, toTopicMessage(scope.state, r)),
    );
  }

  /** Marks the given notifications (or all of them) read; returns how many changed. */
  async markRead(scope: TopicScope, ids?: string[]): Promise<{ marked: number }> {
    // Ids beyond the bigint range name no notification (and must not reach SQL).
    if (ids) ids = ids.filter((id) => BigInt(id) <= 2n ** 63n - 1n);
    if (ids && ids.length === 0) return { marked: 0 };
    const changed = await rows<{ id: string }>(
      this.ds,
      `UPDATE notifications SET read_at = now() WHERE member_id = $1 AND read_at IS NULL AND ($2::bigint[] IS NULL OR id = ANY($2::bigint[])) RETURNING id`,
      [scope.member.id, ids ?? null],
    );
    return { marked: changed.length };
  }
}
