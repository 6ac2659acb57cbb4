import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** The offline queue and delivery states; no foreign keys on the hot path (migrations/0002_hot_path.sql). */
@Entity({ name: 'deliveries' })
@Index('deliveries_message_idx', ['messageId'])
@Index('deliveries_queued_idx', ['recipientMemberId', 'messageId'], { where: `state = 'queued'` })
@Check('deliveries_state_check', `state IN ('queued', 'delivered', 'read')`)
export class DeliveryEntity {
  @PrimaryColumn({ name: 'recipient_member_id', type: 'bigint', primaryKeyConstraintName: 'deliveries_pkey' })
  recipientMemberId!: string;

  @PrimaryColumn({ name: 'message_id', type: 'bigint', primaryKeyConstraintName: 'deliveries_pkey' })
  messageId!: string;

  @Column({ type: 'text', default: 'queued' })
  state!: 'queued' | 'delivered' | 'read';

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;

  @Column({ name: 'read_at', type: 'timestamptz', nullable: true })
  readAt!: Date | null;
}
