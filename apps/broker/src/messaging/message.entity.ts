import { Check, Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, Unique } from 'typeorm';

/**
 * Mapped for schema checks and admin queries; the send path writes with batched SQL. No foreign
 * keys on the hot path (migrations/0002_hot_path.sql says why).
 */
@Entity({ name: 'messages' })
@Unique('messages_sender_client_key', ['senderMemberId', 'clientId'])
@Check('messages_kind_check', `kind IN ('dm', 'group', 'broadcast')`)
@Check('messages_receipts_check', `receipts IN ('all', 'read', 'none')`)
export class MessageEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'messages_pkey' })
  id!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  meshId!: string;

  @Column({ name: 'sender_member_id', type: 'bigint' })
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

  /** Which state advances are pushed to the sender as receipts (protocol §7.3). */
  @Column({ type: 'text', default: 'all' })
  receipts!: 'all' | 'read' | 'none';

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
