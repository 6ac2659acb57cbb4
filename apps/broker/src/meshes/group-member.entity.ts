import { CreateDateColumn, Column, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { MemberEntity } from './member.entity.js';
import { MeshEntity } from './mesh.entity.js';

@Entity({ name: 'group_members' })
@Index('group_members_mesh_group_idx', ['meshId', 'groupName'])
export class GroupMemberEntity {
  @PrimaryColumn({ name: 'member_id', type: 'bigint', primaryKeyConstraintName: 'group_members_pkey' })
  @ForeignKey(() => MemberEntity, { name: 'group_members_member_fkey', onDelete: 'CASCADE' })
  memberId!: string;

  @PrimaryColumn({ name: 'group_name', type: 'text', primaryKeyConstraintName: 'group_members_pkey' })
  groupName!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'group_members_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @CreateDateColumn({ name: 'joined_at', type: 'timestamptz' })
  joinedAt!: Date;
}
