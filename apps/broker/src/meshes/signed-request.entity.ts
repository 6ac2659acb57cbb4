import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** migrations/0008: a signed REST request accepted within its skew window (a repeat is E_REPLAY). */
@Entity({ name: 'signed_requests' })
@Index('signed_requests_expires_idx', ['expiresAt'])
export class SignedRequestEntity {
  /** sha256(member pubkey, LF, request string). */
  @PrimaryColumn({ type: 'bytea', primaryKeyConstraintName: 'signed_requests_pkey' })
  digest!: Buffer;

  /** The request's ts plus the skew window: after it, the request is refused as stale anyway. */
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;
}
