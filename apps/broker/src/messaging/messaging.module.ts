import { Module } from '@nestjs/common';
import { MessageStore } from './message.store.js';
import { MessagingService } from './messaging.service.js';
import { TargetResolver } from './target.resolver.js';

@Module({ providers: [MessageStore, TargetResolver, MessagingService], exports: [MessagingService] })
export class MessagingModule {}
