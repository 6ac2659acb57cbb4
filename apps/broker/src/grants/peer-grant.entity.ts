import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { MemberEntity } from '../meshes/member.entity.js';
import { MeshEntity } from '../meshes/mesh.entity.js';

/** migrations/0004: what the owner member lets the peer member do to it (rows differ from the defaults). */
@Entity({ name: 'peer_grants' })
@Index('peer_grants_mesh_idx', ['meshId'])
@Check('peer_grants_not_self_check', 'owner_member_id <> peer_member_id')
export class PeerGrantEntity {
  @PrimaryColumn({ name: 'owner_member_id', type: 'bigint', primaryKeyConstraintName: 'peer_grants_pkey' })
  @ForeignKey(() => MemberEntity, { name: 'peer_grants_owner_fkey', onDelete: 'CASCADE' })
  ownerMemberId!: string;

  @PrimaryColumn({ name: 'peer_member_id', type: 'bigint', primaryKeyConstraintName: 'peer_grants_pkey' })
  @ForeignKey(() => MemberEntity, { name: 'peer_grants_peer_fkey', onDelete: 'CASCADE' })
  peerMemberId!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'peer_grants_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @Column({ type: 'text', array: true })
  capabilities!: string[];

  @Column({ type: 'boolean', default: false })
  blocked!: boolean;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
