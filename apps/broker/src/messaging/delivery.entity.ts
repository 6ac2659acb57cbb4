import { Check, Column, Entity, ForeignKey, Index, PrimaryColumn } from 'typeorm';
import { MemberEntity } from '../meshes/member.entity.js';
import { MessageEntity } from './message.entity.js';

@Entity({ name: 'deliveries' })
@Index('deliveries_message_idx', ['messageId'])
@Index('deliveries_queued_idx', ['recipientMemberId', 'messageId'], { where: `state = 'queued'` })
@Check('deliveries_state_check', `state IN ('queued', 'delivered', 'read')`)
export class DeliveryEntity {
  @PrimaryColumn({ name: 'recipient_member_id', type: 'bigint', primaryKeyConstraintName: 'deliveries_pkey' })
  @ForeignKey(() => MemberEntity, { name: 'deliveries_recipient_fkey', onDelete: 'CASCADE' })
  recipientMemberId!: string;

  @PrimaryColumn({ name: 'message_id', type: 'bigint', primaryKeyConstraintName: 'deliveries_pkey' })
  @ForeignKey(() => MessageEntity, { name: 'deliveries_message_fkey', onDelete: 'CASCADE' })
  messageId!: string;

  @Column({ type: 'text', default: 'queued' })
  state!: 'queued' | 'delivered' | 'read';

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;

  @Column({ name: 'read_at', type: 'timestamptz', nullable: true })
  readAt!: Date | null;
}
