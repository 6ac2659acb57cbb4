import { Module } from '@nestjs/common';
import { MessageStore } from './message.store.js';
import { MessagingService } from './messaging.service.js';
import { OfflineQueueQuota } from './offline-queue.quota.js';
import { MeshEpochCheck } from './mesh-epoch.check.js';
import { TargetResolver } from './target.resolver.js';

@Module({ providers: [MessageStore, OfflineQueueQuota, TargetResolver, MeshEpochCheck, MessagingService], exports: [MessagingService] })
export class MessagingModule {}
