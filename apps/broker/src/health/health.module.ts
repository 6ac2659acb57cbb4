import { Module } from '@nestjs/common';
import { PresenceModule } from '../presence/presence.module.js';
import { WebModule } from '../web/web.module.js';
import { HealthController } from './health.controller.js';

@Module({ imports: [PresenceModule, WebModule], controllers: [HealthController] })
export class HealthModule {}
