import { Check, Column, CreateDateColumn, Entity, ForeignKey, PrimaryColumn } from 'typeorm';
import { MeshEntity } from '../meshes/mesh.entity.js';

@Entity({ name: 'invites' })
@Check('invites_role_check', `role IN ('admin', 'member')`)
@Check('invites_uses_check', 'uses >= 0 AND uses <= max_uses')
export class InviteEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'invites_pkey' })
  id!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'invites_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @Column({ name: 'issuer_pubkey', type: 'text' })
  issuerPubkey!: string;

  @Column({ type: 'text' })
  role!: 'admin' | 'member';

  /** The signed payload as issued (public data only; the mesh key is never in it). */
  @Column({ type: 'jsonb' })
  payload!: Record<string, unknown>;

  @Column({ type: 'text' })
  sig!: string;

  @Column({ name: 'max_uses', type: 'integer' })
  maxUses!: number;

  @Column({ type: 'integer', default: 0 })
  uses!: number;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
