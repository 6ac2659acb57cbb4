import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { AnalyticsModule } from './analytics/analytics.module.js';
import { ApiModule } from './api/api.module.js';
import { ApiKeysModule } from './apikeys/apikeys.module.js';
import { BusModule } from './bus/bus.module.js';
import { ProtocolExceptionFilter } from './common/protocol-exception.filter.js';
import type { BrokerConfig } from './config/broker.config.js';
import { DbModule } from './db/db.module.js';
import { EmailInvitesModule } from './email-invites/email-invites.module.js';
import { GatewayModule } from './gateway/gateway.module.js';
import { HealthModule } from './health/health.module.js';
import { PublicAttemptsModule } from './http/public-attempts.js';
import { IdentityModule } from './identity/identity.module.js';
import { InvitesModule } from './invites/invites.module.js';
import { MeshesModule } from './meshes/meshes.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MessagingModule } from './messaging/messaging.module.js';
import { PresenceModule } from './presence/presence.module.js';
import { ConfigModule } from './config/config.module.js';
import { TopicsModule } from './topics/topics.module.js';

@Module({})
export class AppModule {
  static forRoot(config: BrokerConfig, dataSource: DataSource): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DbModule.forRoot(dataSource),
        MetricsModule,
        AnalyticsModule,
        BusModule,
        PublicAttemptsModule,
        MeshesModule,
        InvitesModule,
        EmailInvitesModule,
        IdentityModule,
        PresenceModule,
        MessagingModule,
        GatewayModule,
        HealthModule,
        ApiKeysModule,
        TopicsModule,
        ApiModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProtocolExceptionFilter }],
    };
  }
}
