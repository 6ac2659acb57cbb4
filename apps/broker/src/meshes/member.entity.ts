import { Check, Column, CreateDateColumn, Entity, ForeignKey, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { MeshEntity } from './mesh.entity.js';

@Entity({ name: 'members' })
@Unique('members_mesh_pubkey_key', ['meshId', 'pubkey'])
@Unique('members_mesh_name_key', ['meshId', 'displayName'])
@Check('members_role_check', `role IN ('owner', 'admin', 'member')`)
@Check('members_peer_type_check', `peer_type IN ('ai', 'human', 'connector')`)
@Check('members_scope_check', `(scope_capabilities IS NOT NULL OR scope_topics IS NULL) AND (scope_capabilities IS NULL OR scope_capabilities <@ ARRAY['read', 'send', 'admin']::text[])`)
export class MemberEntity {
  /** bigint: TypeORM returns it as a decimal string. */
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'members_pkey' })
  id!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'members_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @Column({ type: 'text' })
  pubkey!: string;

  @Column({ name: 'display_name', type: 'text' })
  displayName!: string;

  @Column({ type: 'text' })
  role!: 'owner' | 'admin' | 'member';

  @Column({ name: 'peer_type', type: 'text', default: 'ai' })
  peerType!: 'ai' | 'human' | 'connector';

  @Column({ name: 'invite_id', type: 'text', nullable: true })
  inviteId!: string | null;

  @CreateDateColumn({ name: 'joined_at', type: 'timestamptz' })
  joinedAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  /** migrations/0006: a member that exists only over REST (no keypair anyone holds). */
  @Column({ name: 'rest_only', type: 'boolean', default: false })
  restOnly!: boolean;

  /** migrations/0015: what the member may do whatever its role (null: not confined). */
  @Column({ name: 'scope_capabilities', type: 'text', array: true, nullable: true })
  scopeCapabilities!: string[] | null;

  /** migrations/0015: the topics a confined member may use (null: any). */
  @Column({ name: 'scope_topics', type: 'text', array: true, nullable: true })
  scopeTopics!: string[] | null;
}
