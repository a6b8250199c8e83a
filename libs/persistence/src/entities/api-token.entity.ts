import { Column, Entity, Index, PrimaryColumn, Unique } from 'typeorm';
import { bigintAsNumber, NOW } from './columns';

/** An API token: only its sha256 is kept. A name is unique among tokens not revoked. */
@Entity({ name: 'api_tokens' })
@Unique('api_tokens_token_hash_key', ['tokenHash'])
@Index('api_tokens_active_name', ['name'], { unique: true, where: 'revoked_at IS NULL' })
export class ApiTokenEntity {
  @PrimaryColumn({
    type: 'bigint',
    generated: 'increment', // bigserial
    primaryKeyConstraintName: 'api_tokens_pkey',
    transformer: bigintAsNumber,
  })
  id!: number;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'text' })
  role!: string;

  @Column({ name: 'token_hash', type: 'text' })
  tokenHash!: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: NOW })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
