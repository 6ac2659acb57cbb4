import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { MemberEntity } from '../meshes/member.entity.js';
import { MeshEntity } from '../meshes/mesh.entity.js';

/** migrations/0006, 0007: a bearer key for REST and SSE; only the SHA-256 of its secret is kept. */
@Entity({ name: 'api_keys' })
@Index('api_keys_mesh_idx', ['meshId'])
@Index('api_keys_parent_idx', ['parentKeyId'])
export class ApiKeyEntity {
  /** The public prefix the key is looked up by. */
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'api_keys_pkey' })
  id!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'api_keys_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @Column({ name: 'member_id', type: 'bigint' })
  @ForeignKey(() => MemberEntity, { name: 'api_keys_member_fkey', onDelete: 'CASCADE' })
  memberId!: string;

  @Column({ name: 'created_by_member_id', type: 'bigint' })
  createdByMemberId!: string;

  /** The key that minted this one over REST; null for a key made with a signed request. */
  @Column({ name: 'parent_key_id', type: 'text', nullable: true })
  @ForeignKey(() => ApiKeyEntity, { name: 'api_keys_parent_fkey', onDelete: 'CASCADE' })
  parentKeyId!: string | null;

  @Column({ type: 'text', default: '' })
  label!: string;

  @Column({ name: 'secret_sha256', type: 'text' })
  secretSha256!: string;

  @Column({ type: 'text', array: true })
  capabilities!: string[];

  @Column({ type: 'text', array: true, nullable: true })
  topics!: string[] | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
