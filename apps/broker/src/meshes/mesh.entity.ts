import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'meshes' })
export class MeshEntity {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'meshes_pkey' })
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'owner_pubkey', type: 'text' })
  ownerPubkey!: string;

  @Column({ name: 'create_sig', type: 'text' })
  createSig!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
