import { Module } from '@nestjs/common';
import { PresenceModule } from '../presence/presence.module.js';
import { HealthController } from './health.controller.js';

@Module({ imports: [PresenceModule], controllers: [HealthController] })
export class HealthModule {}
