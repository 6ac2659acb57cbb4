import { Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { MemberEntity } from '../meshes/member.entity.js';
import { MeshEntity } from '../meshes/mesh.entity.js';

@Entity({ name: 'sessions' })
@Index('sessions_member_idx', ['memberId'])
export class SessionEntity {
  @PrimaryColumn({ name: 'session_pubkey', type: 'text', primaryKeyConstraintName: 'sessions_pkey' })
  sessionPubkey!: string;

  @Column({ name: 'member_id', type: 'bigint' })
  @ForeignKey(() => MemberEntity, { name: 'sessions_member_fkey', onDelete: 'CASCADE' })
  memberId!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'sessions_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @Column({ name: 'peer_type', type: 'text' })
  peerType!: string;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @CreateDateColumn({ name: 'first_seen_at', type: 'timestamptz' })
  firstSeenAt!: Date;

  @Column({ name: 'last_seen_at', type: 'timestamptz', default: () => 'now()' })
  lastSeenAt!: Date;
}
