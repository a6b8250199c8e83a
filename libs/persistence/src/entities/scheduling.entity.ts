import { Check, Column, Entity, PrimaryColumn } from 'typeorm';
import { NOW } from './columns';

/** A paused workflow: no job of it starts until unpaused. */
@Entity({ name: 'workflow_pauses' })
export class WorkflowPauseEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'workflow_pauses_pkey' })
  workflow!: string;

  @Column({ name: 'paused_by', type: 'text' })
  pausedBy!: string;

  @Column({ type: 'text' })
  reason!: string;

  @Column({ name: 'paused_at', type: 'timestamptz', default: NOW })
  pausedAt!: Date;
}

/** A named concurrency limit that definitions' jobs count against. */
@Entity({ name: 'concurrency_limits' })
@Check('concurrency_limits_max_check', 'max >= 0')
export class ConcurrencyLimitEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'concurrency_limits_pkey' })
  name!: string;

  @Column({ type: 'integer' })
  max!: number;

  @Column({ name: 'updated_at', type: 'timestamptz', default: NOW })
  updatedAt!: Date;
}
