import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * What the workers observe for /metrics, added to every few seconds by each
 * worker (libs/metrics durable-metrics.ts) so it survives restarts and
 * reaches the API whichever worker saw it.
 */
@Entity({ name: 'metric_counters' })
export class MetricCounterEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'metric_counters_pkey' })
  name!: string;

  @Column({ type: 'bigint' })
  value!: string;
}

/** Job attempt durations per workflow and job: histogram buckets (not cumulative), count, sum. */
@Entity({ name: 'metric_job_durations' })
export class MetricJobDurationEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'metric_job_durations_pkey' })
  workflow!: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'metric_job_durations_pkey' })
  job!: string;

  @Column({ type: 'bigint', array: true })
  buckets!: string[];

  @Column({ type: 'bigint' })
  count!: string;

  @Column({ type: 'double precision' })
  sum!: number;
}
