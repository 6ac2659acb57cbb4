import { Check, Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn, Unique } from 'typeorm';
import { MeshEntity } from '../meshes/mesh.entity.js';

/** Email invites (migrations/0005_email_invites.sql): the code only as its lookup, the mesh key only sealed to the joiner. */
@Entity({ name: 'email_invites' })
@Unique('email_invites_lookup_key', ['lookup'])
@Check('email_invites_role_check', `role IN ('admin', 'member')`)
@Index('email_invites_mesh_created_idx', ['meshId', 'createdAt'])
@Index('email_invites_mesh_member_idx', ['meshId', 'memberPubkey'])
export class EmailInviteEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'email_invites_pkey' })
  id!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'email_invites_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  /** HMAC of the mailed code: the broker made the code, but keeps no copy of it. */
  @Column({ type: 'text' })
  lookup!: string;

  @Column({ type: 'text' })
  email!: string;

  @Column({ name: 'display_name', type: 'text', nullable: true })
  displayName!: string | null;

  @Column({ type: 'text' })
  role!: 'admin' | 'member';

  @Column({ name: 'issuer_pubkey', type: 'text' })
  issuerPubkey!: string;

  @Column({ type: 'text' })
  sig!: string;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true })
  sentAt!: Date | null;

  @Column({ name: 'send_error', type: 'text', nullable: true })
  sendError!: string | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @Column({ name: 'member_pubkey', type: 'text', nullable: true })
  memberPubkey!: string | null;

  @Column({ name: 'claimed_at', type: 'timestamptz', nullable: true })
  claimedAt!: Date | null;

  /** crypto_box_seal to the member's x25519 key, by the inviting admin: opaque to the broker. */
  @Column({ name: 'handoff_sealed', type: 'text', nullable: true })
  handoffSealed!: string | null;

  @Column({ name: 'handoff_sig', type: 'text', nullable: true })
  handoffSig!: string | null;

  @Column({ name: 'handed_over_at', type: 'timestamptz', nullable: true })
  handedOverAt!: Date | null;
}
