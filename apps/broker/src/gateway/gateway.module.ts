import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../apikeys/apikeys.module.js';
import { EpochsModule } from '../epochs/epochs.module.js';
import { GrantsModule } from '../grants/grants.module.js';
import { IdentityModule } from '../identity/identity.module.js';
import { LimitsModule } from '../limits/limits.module.js';
import { MeshesModule } from '../meshes/meshes.module.js';
import { MessagingModule } from '../messaging/messaging.module.js';
import { PresenceModule } from '../presence/presence.module.js';
import { TopicsModule } from '../topics/topics.module.js';
import { MeshGateway } from './mesh.gateway.js';

@Module({ imports: [ApiKeysModule, EpochsModule, GrantsModule, IdentityModule, LimitsModule, MeshesModule, MessagingModule, PresenceModule, TopicsModule], providers: [MeshGateway] })
export class GatewayModule {}
