import { Check, Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { MemberEntity } from '../meshes/member.entity.js';
import { MeshEntity } from '../meshes/mesh.entity.js';

/** migrations/0010: one accepted epoch of a scope, as its creator signed it. */
@Entity({ name: 'epoch_manifests' })
export class EpochManifestEntity {
  @PrimaryColumn({ name: 'mesh_id', type: 'uuid', primaryKeyConstraintName: 'epoch_manifests_pkey' })
  @ForeignKey(() => MeshEntity, { name: 'epoch_manifests_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'epoch_manifests_pkey' })
  scope!: string;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'epoch_manifests_pkey' })
  epoch!: number;

  /** Canonical JSON of the signed manifest. */
  @Column({ type: 'text' })
  manifest!: string;

  @Column({ type: 'text' })
  sig!: string;

  @Column({ name: 'manifest_hash', type: 'text' })
  manifestHash!: string;

  @Column({ name: 'created_by_member_id', type: 'bigint' })
  @ForeignKey(() => MemberEntity, { name: 'epoch_manifests_member_fkey', onDelete: 'CASCADE' })
  createdByMemberId!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/** migrations/0010: one member's sealed copy of one epoch key; the first seal per recipient stays. */
@Entity({ name: 'epoch_seals' })
@Index('epoch_seals_recipient_idx', ['meshId', 'recipient', 'scope', 'epoch'])
// Partial index (migrations/0014_topic_history.sql), outside what TypeORM compares.
@Index('epoch_seals_history_idx', { synchronize: false })
@Check('epoch_seals_via_check', 'via_epoch IS NULL OR via_epoch > epoch')
@ForeignKey(() => EpochManifestEntity, ['meshId', 'scope', 'epoch'], ['meshId', 'scope', 'epoch'], { name: 'epoch_seals_manifest_fkey', onDelete: 'CASCADE' })
export class EpochSealEntity {
  @PrimaryColumn({ name: 'mesh_id', type: 'uuid', primaryKeyConstraintName: 'epoch_seals_pkey' })
  meshId!: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'epoch_seals_pkey' })
  scope!: string;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'epoch_seals_pkey' })
  epoch!: number;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'epoch_seals_pkey' })
  recipient!: string;

  @Column({ type: 'text' })
  sealer!: string;

  @Column({ type: 'text' })
  sealed!: string;

  @Column({ type: 'text' })
  sig!: string;

  /** migrations/0014: a history seal, shared under this later epoch. */
  @Column({ name: 'via_epoch', type: 'integer', nullable: true })
  viaEpoch!: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
