import { Module } from '@nestjs/common';
import { GrantsService } from './grants.service.js';
import { SharedStateService } from './shared-state.service.js';

@Module({ providers: [GrantsService, SharedStateService], exports: [GrantsService, SharedStateService] })
export class GrantsModule {}
