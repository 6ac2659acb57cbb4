import { Check, Column, CreateDateColumn, Entity, ForeignKey, PrimaryColumn, Unique } from 'typeorm';
import { MeshEntity } from '../meshes/mesh.entity.js';

/** Invites v2 (migrations/0003_invites_v2.sql): a short-code invite as the broker may hold it — no code, no mesh key. */
@Entity({ name: 'invites_v2' })
@Unique('invites_v2_lookup_key', ['lookup'])
@Check('invites_v2_role_check', `role IN ('admin', 'member')`)
@Check('invites_v2_uses_check', 'uses >= 0 AND uses <= max_uses')
export class ShortInviteEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'invites_v2_pkey' })
  id!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'invites_v2_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  /** HMAC of the code: finds the invite for a claim without the code ever reaching the broker. */
  @Column({ type: 'text' })
  lookup!: string;

  @Column({ name: 'issuer_pubkey', type: 'text' })
  issuerPubkey!: string;

  @Column({ type: 'text' })
  role!: 'admin' | 'member';

  /** nonce ‖ secretbox under a key derived from the code: opaque to the broker. */
  @Column({ name: 'wrapped_mesh_key', type: 'text' })
  wrappedMeshKey!: string;

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
