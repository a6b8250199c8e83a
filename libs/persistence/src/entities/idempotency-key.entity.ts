import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { bigintAsNumber, NOW } from './columns';
import { RunEntity } from './run.entity';

/** An Idempotency-Key a principal used, the hash of its request and the run it made. */
@Entity({ name: 'idempotency_keys' })
export class IdempotencyKeyEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'idempotency_keys_pkey' })
  principal!: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'idempotency_keys_pkey' })
  key!: string;

  @Column({ name: 'request_hash', type: 'text' })
  requestHash!: string;

  @Column({ name: 'run_id', type: 'bigint', transformer: bigintAsNumber })
  runId!: number;

  @ManyToOne(() => RunEntity)
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'idempotency_keys_run_id_fkey' })
  run?: RunEntity;

  @Column({ name: 'created_at', type: 'timestamptz', default: NOW })
  createdAt!: Date;
}
