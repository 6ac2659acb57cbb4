import { Body, Controller, Get, Post, Query, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { MarkNotificationsReadBody, Notification, NotificationsQuery } from '@claudemesh/core';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { NotificationsService } from '../topics/notifications.service.js';
import { MarkedNotifications } from './api.schemas.js';
import { BearerGuard, Caller, scopeOf } from './bearer.guard.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

/** Mentions (`@name` in a topic message) and replies to the member's messages. */
@ApiTags('notifications')
@Controller('api/v1/notifications')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get()
  @BearerRoute('read', { summary: 'Mentions and replies, newest first', ok: Notification.array(), errors: [400] })
  list(@Caller() caller: ApiCaller, @Query({ schema: NotificationsQuery }) query: z.output<typeof NotificationsQuery>): Promise<Array<z.output<typeof Notification>>> {
    return this.notifications.list(scopeOf(caller), query);
  }

  @Post('read')
  @BearerRoute('send', { summary: 'Mark notifications read (the given ids, or all)', ok: MarkedNotifications, errors: [400] })
  markRead(@Caller() caller: ApiCaller, @Body({ schema: MarkNotificationsReadBody }) body: z.output<typeof MarkNotificationsReadBody>): Promise<z.output<typeof MarkedNotifications>> {
    return this.notifications.markRead(scopeOf(caller), body.ids);
  }
}
