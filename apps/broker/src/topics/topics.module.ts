import { Module } from '@nestjs/common';
import { NotificationsService } from './notifications.service.js';
import { TopicsService } from './topics.service.js';

@Module({ providers: [TopicsService, NotificationsService], exports: [TopicsService, NotificationsService] })
export class TopicsModule {}
