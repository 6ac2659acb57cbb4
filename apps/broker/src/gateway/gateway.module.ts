import { Module } from '@nestjs/common';
import { GrantsModule } from '../grants/grants.module.js';
import { IdentityModule } from '../identity/identity.module.js';
import { MeshesModule } from '../meshes/meshes.module.js';
import { MessagingModule } from '../messaging/messaging.module.js';
import { PresenceModule } from '../presence/presence.module.js';
import { MeshGateway } from './mesh.gateway.js';

@Module({ imports: [GrantsModule, IdentityModule, MeshesModule, MessagingModule, PresenceModule], providers: [MeshGateway] })
export class GatewayModule {}
