import { Module } from '@nestjs/common';
import { PushService } from '../push/push.service.js';
import { NotificationsService } from './notifications.service.js';
import { TopicsService } from './topics.service.js';

@Module({ providers: [TopicsService, NotificationsService, PushService], exports: [TopicsService, NotificationsService, PushService] })
export class TopicsModule {}
