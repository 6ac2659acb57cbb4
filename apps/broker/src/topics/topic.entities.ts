import { Check, Column, CreateDateColumn, Entity, ForeignKey, Index, PrimaryColumn, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { MemberEntity } from '../meshes/member.entity.js';
import { MeshEntity } from '../meshes/mesh.entity.js';

/** migrations/0006: a conversation scope inside a mesh. */
@Entity({ name: 'topics' })
@Unique('topics_mesh_name_key', ['meshId', 'name'])
@Check('topics_visibility_check', `visibility IN ('public', 'private')`)
@Check('topics_encryption_check', `encryption IN ('e2e', 'plaintext')`)
@Check('topics_history_check', `history IN ('since_join', 'shared')`)
export class TopicEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'topics_pkey' })
  id!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  @ForeignKey(() => MeshEntity, { name: 'topics_mesh_fkey', onDelete: 'CASCADE' })
  meshId!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'text', default: 'public' })
  visibility!: 'public' | 'private';

  @Column({ type: 'text', default: '' })
  description!: string;

  /** migrations/0011, 0012: which body version the topic takes (e2e: 2 only, plaintext: 1 only); e2e unless created otherwise. */
  @Column({ type: 'text', default: 'e2e' })
  encryption!: 'e2e' | 'plaintext';

  /** migrations/0014: whether members who join later get the earlier epochs' keys (e2e topics). */
  @Column({ type: 'text', default: 'since_join' })
  history!: 'since_join' | 'shared';

  @Column({ name: 'created_by_member_id', type: 'bigint', nullable: true })
  createdByMemberId!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

@Entity({ name: 'topic_members' })
@Index('topic_members_member_idx', ['memberId'])
export class TopicMemberEntity {
  @PrimaryColumn({ name: 'topic_id', type: 'bigint', primaryKeyConstraintName: 'topic_members_pkey' })
  @ForeignKey(() => TopicEntity, { name: 'topic_members_topic_fkey', onDelete: 'CASCADE' })
  topicId!: string;

  @PrimaryColumn({ name: 'member_id', type: 'bigint', primaryKeyConstraintName: 'topic_members_pkey' })
  @ForeignKey(() => MemberEntity, { name: 'topic_members_member_fkey', onDelete: 'CASCADE' })
  memberId!: string;

  @CreateDateColumn({ name: 'joined_at', type: 'timestamptz' })
  joinedAt!: Date;

  @Column({ name: 'last_read_id', type: 'bigint', default: 0 })
  lastReadId!: string;
}

@Entity({ name: 'topic_messages' })
@Unique('topic_messages_sender_client_key', ['senderMemberId', 'clientId'])
@Index('topic_messages_topic_idx', ['topicId', 'id'])
// a GIN index on body_tsv (migrations/0007) TypeORM cannot describe; left to the migration
@Index('topic_messages_search_idx', { synchronize: false })
// partial index on (topic_id, key_epoch) for scheduled rotation (migrations/0012), left to the migration
@Index('topic_messages_epoch_idx', { synchronize: false })
@Check(
  'topic_messages_body_check',
  `(body_version = 1 AND body IS NOT NULL AND ciphertext IS NULL AND sig IS NULL) OR (body_version = 2 AND body IS NULL AND nonce IS NOT NULL AND ciphertext IS NOT NULL AND key_epoch IS NOT NULL AND sig IS NOT NULL)`,
)
export class TopicMessageEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'topic_messages_pkey' })
  id!: string;

  @Column({ name: 'topic_id', type: 'bigint' })
  @ForeignKey(() => TopicEntity, { name: 'topic_messages_topic_fkey', onDelete: 'CASCADE' })
  topicId!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  meshId!: string;

  @Column({ name: 'sender_member_id', type: 'bigint' })
  senderMemberId!: string;

  @Column({ name: 'client_id', type: 'text' })
  clientId!: string;

  @Column({ name: 'reply_to', type: 'bigint', nullable: true })
  replyTo!: string | null;

  @Column({ name: 'body_version', type: 'smallint', default: 1 })
  bodyVersion!: number;

  @Column({ type: 'text', nullable: true })
  body!: string | null;

  @Column({ type: 'bytea', nullable: true })
  nonce!: Buffer | null;

  @Column({ type: 'bytea', nullable: true })
  ciphertext!: Buffer | null;

  @Column({ name: 'key_epoch', type: 'integer', nullable: true })
  keyEpoch!: number | null;

  /** Version 2 (migrations/0011): the sender's signature over associated data, nonce and ciphertext. */
  @Column({ type: 'text', nullable: true })
  sig!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  /** to_tsvector('simple', body), kept by a trigger (migrations/0007); never written by the broker. */
  @Column({ name: 'body_tsv', type: 'tsvector', select: false, insert: false, update: false })
  bodyTsv!: string;
}

@Entity({ name: 'notifications' })
@Unique('notifications_member_message_kind_key', ['memberId', 'messageId', 'kind'])
@Check('notifications_kind_check', `kind IN ('mention', 'reply')`)
@Index('notifications_member_idx', ['memberId', 'id'])
export class NotificationEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint', primaryKeyConstraintName: 'notifications_pkey' })
  id!: string;

  @Column({ name: 'mesh_id', type: 'uuid' })
  meshId!: string;

  @Column({ name: 'member_id', type: 'bigint' })
  @ForeignKey(() => MemberEntity, { name: 'notifications_member_fkey', onDelete: 'CASCADE' })
  memberId!: string;

  @Column({ type: 'text' })
  kind!: 'mention' | 'reply';

  @Column({ name: 'topic_id', type: 'bigint' })
  topicId!: string;

  @Column({ name: 'message_id', type: 'bigint' })
  @ForeignKey(() => TopicMessageEntity, { name: 'notifications_message_fkey', onDelete: 'CASCADE' })
  messageId!: string;

  @Column({ name: 'actor_member_id', type: 'bigint' })
  actorMemberId!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'read_at', type: 'timestamptz', nullable: true })
  readAt!: Date | null;
}
