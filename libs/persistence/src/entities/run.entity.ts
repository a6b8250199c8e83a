import {
  Check,
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  Unique,
} from 'typeorm';
import { bigintAsNumber, NOW } from './columns';
import { RequestEntity } from './request.entity';
import { WorkflowDefinitionEntity } from './workflow-definition.entity';

/**
 * A run (one version of a request) and its states. Its transitions are the
 * domain's tables and are written by reviewed SQL (libs/runs); this entity
 * is the schema in code and serves simple reads.
 */
@Entity({ name: 'runs' })
@Unique('runs_request_id_version_key', ['requestId', 'version'])
@Check('runs_priority_check', 'priority >= 0 AND priority <= 100')
@Check('runs_sources_listed', 'source_run_id IS NULL OR source_run_ids = ARRAY[source_run_id]')
// Listing is newest first with optional filters: each filter has an index ending in id (id DESC).
@Index('runs_workflow_id', ['workflow', 'id'])
// The dashboard's runs finished per hour.
@Index('runs_finished_at', ['finishedAt'], { where: 'finished_at IS NOT NULL' })
@Index('runs_state_id', ['state', 'id'])
@Index('runs_qa_state_id', ['qaState', 'id'])
@Index('runs_archive_state_id', ['archiveState', 'id'])
@Index('runs_subject_id', ['subject', 'id'])
@Index('runs_correlation_id_id', ['correlationId', 'id'])
@Index('runs_request_id_id', ['requestId', 'id'])
@Index('runs_active', ['priority', 'id'], { where: "state IN ('submitted', 'running')" })
export class RunEntity {
  @PrimaryColumn({
    type: 'bigint',
    generated: 'increment', // bigserial
    primaryKeyConstraintName: 'runs_pkey',
    transformer: bigintAsNumber,
  })
  id!: number;

  @Column({ name: 'request_id', type: 'bigint', transformer: bigintAsNumber })
  requestId!: number;

  @ManyToOne(() => RequestEntity)
  @JoinColumn({ name: 'request_id', foreignKeyConstraintName: 'runs_request_id_fkey' })
  request?: RequestEntity;

  @Column({ type: 'integer' })
  version!: number;

  @Column({ type: 'text' })
  workflow!: string;

  @Column({ name: 'workflow_version', type: 'integer' })
  workflowVersion!: number;

  @Column({ name: 'workflow_digest', type: 'text' })
  workflowDigest!: string;

  @ManyToOne(() => WorkflowDefinitionEntity)
  @JoinColumn({ name: 'workflow_digest', foreignKeyConstraintName: 'runs_workflow_digest_fkey' })
  definition?: WorkflowDefinitionEntity;

  @Column({ type: 'text', nullable: true })
  subject!: string | null;

  @Column({ name: 'correlation_id', type: 'text', nullable: true })
  correlationId!: string | null;

  @Column({ type: 'jsonb' })
  parameters!: Record<string, unknown>;

  @Column({ type: 'text' })
  state!: string;

  @Column({ name: 'qa_state', type: 'text' })
  qaState!: string;

  @Column({ name: 'archive_state', type: 'text', default: 'not_ingested' })
  archiveState!: string;

  @Column({ name: 'disk_state', type: 'text' })
  diskState!: string;

  @Column({ name: 'processing_dir', type: 'text', nullable: true })
  processingDir!: string | null;

  @Column({ name: 'results_dir', type: 'text', nullable: true })
  resultsDir!: string | null;

  @Column({ name: 'source_run_id', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  sourceRunId!: number | null;

  @ManyToOne(() => RunEntity)
  @JoinColumn({ name: 'source_run_id', foreignKeyConstraintName: 'runs_source_run_id_fkey' })
  sourceRun?: RunEntity;

  /** The runs an ingestion run ingests, in the order given (bulk ingestion, CONTRACT 5.7). */
  @Column({ name: 'source_run_ids', type: 'bigint', array: true, nullable: true })
  sourceRunIds!: string[] | null;

  @Column({
    name: 'ingestion_run_id',
    type: 'bigint',
    nullable: true,
    transformer: bigintAsNumber,
  })
  ingestionRunId!: number | null;

  @ManyToOne(() => RunEntity)
  @JoinColumn({ name: 'ingestion_run_id', foreignKeyConstraintName: 'runs_ingestion_run_id_fkey' })
  ingestionRun?: RunEntity;

  @Column({ name: 'created_by', type: 'text' })
  createdBy!: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: NOW })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: NOW })
  updatedAt!: Date;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ type: 'jsonb', nullable: true })
  error!: unknown;

  @Column({ name: 'last_sequence', type: 'integer', default: 0 })
  lastSequence!: number;

  /** What an ingestion run archived. */
  @Column({ type: 'jsonb', nullable: true })
  products!: unknown;

  @Column({ type: 'smallint', default: 50 })
  priority!: number;

  @Column({ name: 'resumed_count', type: 'integer', default: 0 })
  resumedCount!: number;

  /** When the sweep deleted its per-instance rows (WFS_JOB_ROWS_RETENTION_DAYS); null while kept. */
  @Column({ name: 'jobs_pruned_at', type: 'timestamptz', nullable: true })
  jobsPrunedAt!: Date | null;
}

/** A run's input file; the bytes live in `<run dir>/inputs/`. */
@Entity({ name: 'run_files' })
export class RunFileEntity {
  @PrimaryColumn({
    name: 'run_id',
    type: 'bigint',
    primaryKeyConstraintName: 'run_files_pkey',
    transformer: bigintAsNumber,
  })
  runId!: number;

  @ManyToOne(() => RunEntity)
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'run_files_run_id_fkey' })
  run?: RunEntity;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'run_files_pkey' })
  name!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  size!: number;

  @Column({ type: 'text' })
  sha256!: string;

  @Column({ name: 'uploaded_at', type: 'timestamptz', default: NOW })
  uploadedAt!: Date;
}
