import { EpochManifestEntity, EpochSealEntity } from '../epochs/epoch.entities.js';
import { PeerGrantEntity } from '../grants/peer-grant.entity.js';
import { SharedStateEntity } from '../grants/shared-state.entity.js';
import { EmailInviteEntity } from '../email-invites/email-invite.entity.js';
import { ApiKeyEntity } from '../apikeys/api-key.entity.js';
import { SignedRequestEntity } from '../meshes/signed-request.entity.js';
import { NotificationEntity, TopicEntity, TopicMemberEntity, TopicMessageEntity } from '../topics/topic.entities.js';
import { SessionEntity } from '../identity/session.entity.js';
import { InviteEntity } from '../invites/invite.entity.js';
import { ShortInviteEntity } from '../invites/short-invite.entity.js';
import { GroupMemberEntity } from '../meshes/group-member.entity.js';
import { MemberEntity } from '../meshes/member.entity.js';
import { MeshEntity } from '../meshes/mesh.entity.js';
import { DeliveryEntity } from '../messaging/delivery.entity.js';
import { MessageEntity } from '../messaging/message.entity.js';

export const ENTITIES = [MeshEntity, MemberEntity, GroupMemberEntity, SessionEntity, InviteEntity, ShortInviteEntity, EmailInviteEntity, MessageEntity, DeliveryEntity, PeerGrantEntity, SharedStateEntity, TopicEntity, TopicMemberEntity, TopicMessageEntity, NotificationEntity, ApiKeyEntity, SignedRequestEntity, EpochManifestEntity, EpochSealEntity];
