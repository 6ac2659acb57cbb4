import { Module } from '@nestjs/common';
import { MailModule } from '../mail/mail.module.js';
import { MeshesModule } from '../meshes/meshes.module.js';
import { EmailInvitesController, EmailJoinPageController } from './email-invites.controller.js';
import { EmailInvitesService } from './email-invites.service.js';
import { KeyHandoffService } from './key-handoff.service.js';

/** Email invites and the key handoff that follows them (docs/protocol.md §9c). */
@Module({
  imports: [MeshesModule, MailModule],
  controllers: [EmailInvitesController, EmailJoinPageController],
  providers: [EmailInvitesService, KeyHandoffService],
})
export class EmailInvitesModule {}
