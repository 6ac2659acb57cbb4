import { Check, Column, CreateDateColumn, Entity, ForeignKey, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { MeshEntity } from './mesh.entity.js';

@Entity({ name: 'members' })
@Unique('members_mesh_pubkey_key', ['meshId', 'pubkey'])
@Unique('members_mesh_name_key', ['meshId', 'displayName'])
@Check('members_role_check', `role IN ('owner', 'admin', 'member')`)
@Check('members_peer_type_check', `peer_type IN ('ai', 'human', 'connector')`)
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
}
