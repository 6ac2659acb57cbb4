import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../apikeys/apikeys.module.js';
import { EpochsModule } from '../epochs/epochs.module.js';
import { LimitsModule } from '../limits/limits.module.js';
import { MeshesModule } from '../meshes/meshes.module.js';
import { PresenceModule } from '../presence/presence.module.js';
import { TopicsModule } from '../topics/topics.module.js';
import { AnalyticsService } from '../analytics/analytics.service.js';
import { AnalyticsController, MeshAnalyticsController } from './analytics.controller.js';
import { ApiKeysController } from './apikeys.controller.js';
import { BearerGuard } from './bearer.guard.js';
import { EpochsController } from './epochs.controller.js';
import { MeController } from './me.controller.js';
import { MemberPresenceView } from './member-presence.js';
import { MembersController } from './members.controller.js';
import { MeshApiKeysController } from './mesh-apikeys.controller.js';
import { MessagesController } from './messages.controller.js';
import { NotificationsController } from './notifications.controller.js';
import { SearchController } from './search.controller.js';
import { SignedMemberGuard } from './signed-member.guard.js';
import { TopicsController } from './topics.controller.js';
import { TopicStreamController } from './topic-stream.controller.js';
import { WebSignInsController } from './web-signins.controller.js';
import { WebModule } from '../web/web.module.js';

/**
 * The REST `/api/v1` bearer surface (docs/topics.md) and the signed API-key routes: thin edges
 * over TopicsService, NotificationsService and ApiKeysService. The OpenAPI document is built from
 * this module's controllers (openapi.ts).
 */
@Module({
  imports: [ApiKeysModule, EpochsModule, LimitsModule, TopicsModule, PresenceModule, MeshesModule, WebModule],
  controllers: [
    MeController,
    TopicsController,
    MessagesController,
    MembersController,
    NotificationsController,
    SearchController,
    ApiKeysController,
    MeshApiKeysController,
    TopicStreamController,
    EpochsController,
    WebSignInsController,
    AnalyticsController,
    MeshAnalyticsController,
  ],
  providers: [MemberPresenceView, BearerGuard, SignedMemberGuard, AnalyticsService],
  exports: [MemberPresenceView, BearerGuard],
})
export class ApiModule {}
