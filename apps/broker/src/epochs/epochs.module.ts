import { Module } from '@nestjs/common';
import { TopicsModule } from '../topics/topics.module.js';
import { EpochsService } from './epochs.service.js';

@Module({ imports: [TopicsModule], providers: [EpochsService], exports: [EpochsService] })
export class EpochsModule {}
