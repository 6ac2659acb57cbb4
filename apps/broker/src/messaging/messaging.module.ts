import { Module } from '@nestjs/common';
import { MessageStore } from './message.store.js';
import { MessagingService } from './messaging.service.js';
import { OfflineQueueQuota } from './offline-queue.quota.js';
import { TargetResolver } from './target.resolver.js';

@Module({ providers: [MessageStore, OfflineQueueQuota, TargetResolver, MessagingService], exports: [MessagingService] })
export class MessagingModule {}
