import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from './columns';
import { RunEntity } from './run.entity';

/**
 * A job of a run's plan (one per step of the definition). Written only by
 * the reviewed SQL of submit and the job store; the entity is the schema.
 */
@Entity({ name: 'job_groups' })
@Index('job_groups_progress_due', ['runId'], { where: 'progress_due' })
export class JobGroupEntity {
  @PrimaryColumn({
    name: 'run_id',
    type: 'bigint',
    primaryKeyConstraintName: 'job_groups_pkey',
    transformer: bigintAsNumber,
  })
  runId!: number;

  @ManyToOne(() => RunEntity)
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'job_groups_run_id_fkey' })
  run?: RunEntity;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'job_groups_pkey' })
  name!: string;

  @Column({ type: 'integer' })
  position!: number;

  @Column({ type: 'text', array: true })
  needs!: string[];

  @Column({ type: 'integer' })
  instances!: number;

  @Column({ type: 'integer', default: 0 })
  completed!: number;

  @Column({ type: 'boolean', default: false })
  released!: boolean;

  /** Why a ready group's instances wait (the scheduler's last word). */
  @Column({ name: 'waiting_for', type: 'text', nullable: true })
  waitingFor!: string | null;

  @Column({ type: 'boolean', default: false })
  skipped!: boolean;

  @Column({ type: 'jsonb', nullable: true })
  result!: unknown;

  /** False for a dynamic scatter until the job it reads is done. */
  @Column({ type: 'boolean', default: true })
  planned!: boolean;

  /** `events: summary`: the counts changed since the last group-progress event. */
  @Column({ name: 'progress_due', type: 'boolean', default: false })
  progressDue!: boolean;

  /** When the last group-progress event was sent. */
  @Column({ name: 'progress_at', type: 'timestamptz', nullable: true })
  progressAt!: Date | null;

  /**
   * What its instances' rows said when the row retention deleted them:
   * `{counts: {state: n}, startedAt, finishedAt}` (the DAG reads it then); null while they exist.
   */
  @Column({ name: 'pruned_summary', type: 'jsonb', nullable: true })
  prunedSummary!: unknown;
}

/**
 * One instance of a job (scatter index `idx`, round `round`). The scheduler,
 * the claim and the job store read and write these rows with reviewed SQL;
 * the partial indexes below are theirs.
 */
@Entity({ name: 'jobs' })
@Index('jobs_run_order', ['runId', 'position', 'idx'])
@Index('jobs_ready', ['priority', 'runId', 'position', 'idx'], {
  where: "state = 'idle' AND dispatched_at IS NOT NULL AND worker_id IS NULL",
})
@Index('jobs_placed', ['workerId'], {
  where: "worker_id IS NOT NULL AND state IN ('idle', 'running')",
})
@Index('jobs_held', ['runId'], { where: "state = 'held'" })
@Index('jobs_failed', ['runId', 'name'], { where: "state IN ('failed', 'removed')" })
@Index('jobs_batch_running', ['executor'], {
  where: "state = 'running' AND executor IS NOT NULL",
})
@Index('jobs_waiting', ['dispatchedAt'], { where: "state = 'waiting'" })
export class JobEntity {
  @PrimaryColumn({
    name: 'run_id',
    type: 'bigint',
    primaryKeyConstraintName: 'jobs_pkey',
    transformer: bigintAsNumber,
  })
  runId!: number;

  @ManyToOne(() => RunEntity)
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'jobs_run_id_fkey' })
  run?: RunEntity;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'jobs_pkey' })
  name!: string;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'jobs_pkey' })
  idx!: number;

  @Column({ type: 'integer' })
  position!: number;

  @Column({ type: 'jsonb', nullable: true })
  item!: unknown;

  @Column({ type: 'text', default: 'idle' })
  state!: string;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'exit_code', type: 'integer', nullable: true })
  exitCode!: number | null;

  @Column({ name: 'status_reason', type: 'text', nullable: true })
  statusReason!: string | null;

  @Column({ type: 'text', nullable: true })
  host!: string | null;

  @Column({ type: 'integer', nullable: true })
  pid!: number | null;

  @Column({ name: 'dispatched_at', type: 'timestamptz', nullable: true })
  dispatchedAt!: Date | null;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  /** The worker it is placed on (idle) or run by (running); no foreign key: workers come and go. */
  @Column({ name: 'worker_id', type: 'text', nullable: true })
  workerId!: string | null;

  @Column({ type: 'smallint', default: 50 })
  priority!: number;

  @Column({ name: 'uncounted_attempts', type: 'integer', default: 0 })
  uncountedAttempts!: number;

  @Column({ name: 'assigned_at', type: 'timestamptz', nullable: true })
  assignedAt!: Date | null;

  @Column({ type: 'text', nullable: true })
  executor!: string | null;

  @Column({ name: 'cluster_job_id', type: 'text', nullable: true })
  clusterJobId!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  result!: unknown;

  @Column({ type: 'integer', default: 1 })
  round!: number;
}
