import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, Unique } from 'typeorm';
import { bigintAsNumber, NOW } from './columns';
import { RunEntity } from './run.entity';

/**
 * The outbox of run events, numbered per run. Written only by the outbox
 * writer (libs/events outbox.ts) in the transaction of the change it tells.
 */
@Entity({ name: 'events' })
@Unique('events_run_id_sequence_key', ['runId', 'sequence'])
@Index('events_unpublished', ['id'], { where: 'published_at IS NULL' })
@Index('events_unnotified', ['id'], {
  where: "notified_at IS NULL AND type IN ('running', 'complete', 'failed', 'gate-waiting')",
})
export class EventEntity {
  @PrimaryColumn({
    type: 'bigint',
    generated: 'increment', // bigserial
    primaryKeyConstraintName: 'events_pkey',
    transformer: bigintAsNumber,
  })
  id!: number;

  @Column({ name: 'run_id', type: 'bigint', transformer: bigintAsNumber })
  runId!: number;

  @ManyToOne(() => RunEntity)
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'events_run_id_fkey' })
  run?: RunEntity;

  @Column({ type: 'integer' })
  sequence!: number;

  @Column({ type: 'text' })
  type!: string;

  @Column({ type: 'jsonb' })
  body!: Record<string, unknown>;

  @Column({ name: 'created_at', type: 'timestamptz', default: NOW })
  createdAt!: Date;

  /** The relay's progress. */
  @Column({ name: 'published_at', type: 'timestamptz', nullable: true })
  publishedAt!: Date | null;

  /** The mail notifier's progress. */
  @Column({ name: 'notified_at', type: 'timestamptz', nullable: true })
  notifiedAt!: Date | null;
}

/** The outbox of workflow-level messages (workflow.<name>.paused|unpaused). */
@Entity({ name: 'workflow_events' })
@Index('workflow_events_unpublished', ['id'], { where: 'published_at IS NULL' })
export class WorkflowEventEntity {
  @PrimaryColumn({
    type: 'bigint',
    generated: 'increment', // bigserial
    primaryKeyConstraintName: 'workflow_events_pkey',
    transformer: bigintAsNumber,
  })
  id!: number;

  @Column({ type: 'text' })
  workflow!: string;

  @Column({ type: 'text' })
  type!: string;

  @Column({ type: 'jsonb' })
  body!: Record<string, unknown>;

  @Column({ name: 'published_at', type: 'timestamptz', nullable: true })
  publishedAt!: Date | null;
}
