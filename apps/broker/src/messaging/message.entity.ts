import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

/**
 * Mapped for schema checks and admin queries; the send path writes with batched SQL. No foreign
 * keys on the hot path (migrations/0002_hot_path.sql says why).
 */
@Entity({ name: 'messages' })
// Partial index (migrations/0013_mesh_epochs.sql), outside what TypeORM compares.
@Index('messages_epoch_idx', { synchronize: false })
@Unique('messages_sender_client_key', ['senderMemberId', 'clientId'])
@Check('messages_kind_check', `kind IN ('dm', 'group', 'broadcast')`)
@Check('messages_receipts_check', `receipts IN ('all', 'read', 'none')`)
@Check(
  'messages_epoch_check',
  `(key_epoch IS NULL AND sig IS NULL) OR (key_epoch IS NOT NULL AND key_epoch >= 1 AND sig IS NOT NULL AND kind IN ('group', 'broadcast'))`,
)
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

  /** body_version 2 (`@group`, `*`): the mesh-scope key epoch the ciphertext is sealed under; null for the mesh key and DMs. */
  @Column({ name: 'key_epoch', type: 'integer', nullable: true })
  keyEpoch!: number | null;

  /** body_version 2: the sender's signature over the associated data, nonce and ciphertext. */
  @Column({ type: 'text', nullable: true })
  sig!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
