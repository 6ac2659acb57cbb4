import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { MemberEntity } from '../meshes/member.entity.js';
import { MeshEntity } from '../meshes/mesh.entity.js';

/** migrations/0004: one shared-state value, sealed by the writer; opaque to the broker. */
@Entity({ name: 'shared_state' })
@Index('shared_state_mesh_idx', ['meshId'])
@Check('shared_state_version_check', 'version >= 1')
export class SharedStateEntity {
  @PrimaryColumn({ name: 'owner_member_id', type: 'bigint', primaryKeyConstraintName: 'shared_state_pkey' })
  @ForeignKey(() => MemberEntity, { name: 'shared_state_owner_fkey', onDelete: 'CASCADE' })
  ownerMemberId!: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'shared_state_pkey' })
  key!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'shared_state_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @Column({ type: 'integer' })
  version!: number;

  @Column({ type: 'bytea' })
  nonce!: Buffer;

  @Column({ type: 'bytea' })
  ciphertext!: Buffer;

  @Column({ name: 'updated_by_member_id', type: 'bigint' })
  updatedByMemberId!: string;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
