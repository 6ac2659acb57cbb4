import { Check, Column, CreateDateColumn, Entity, ForeignKey, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { MemberEntity } from '../meshes/member.entity.js';
import { MeshEntity } from '../meshes/mesh.entity.js';

/** Mapped for schema checks and admin queries; the send path writes with batched SQL. */
@Entity({ name: 'messages' })
@Unique('messages_sender_client_key', ['senderMemberId', 'clientId'])
@Check('messages_kind_check', `kind IN ('dm', 'group', 'broadcast')`)
export class MessageEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'messages_pkey' })
  id!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'messages_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @Column({ name: 'sender_member_id', type: 'bigint' })
  @ForeignKey(() => MemberEntity, { name: 'messages_sender_fkey', onDelete: 'CASCADE' })
  senderMemberId!: string;

  @Column({ name: 'sender_session_pubkey', type: 'text' })
  senderSessionPubkey!: string;

  @Column({ name: 'client_id', type: 'text' })
  clientId!: string;

  @Column({ type: 'text' })
  kind!: 'dm' | 'group' | 'broadcast';

  @Column({ type: 'text' })
  target!: string;

  @Column({ type: 'bytea' })
  nonce!: Buffer;

  @Column({ type: 'bytea' })
  ciphertext!: Buffer;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
