import {
  ArchiveState,
  EventProduct,
  JobDefinition,
  WaitingFor,
  waitingForOf,
  WorkflowDefinition,
  DiskState,
  JobState,
  notFound,
  QaState,
  RunError,
  RunSnapshot,
  RunState,
} from '@wfs/domain';
import {
  notifyPayload,
  numberEvents,
  outboxInsert,
  outboxNotify,
  outboxParams,
  PendingEvent,
} from '@wfs/events';
import type { Tx } from '@wfs/persistence';

/** A runs row as SQL returns it (bigints come back as strings from pg). */
export interface RunRow {
  id: string;
  request_id: string;
  version: number;
  workflow: string;
  workflow_version: number;
  workflow_digest: string;
  subject: string | null;
  correlation_id: string | null;
  parameters: Record<string, unknown>;
  state: RunState;
  qa_state: QaState;
  archive_state: ArchiveState;
  disk_state: DiskState;
  processing_dir: string | null;
  results_dir: string | null;
  source_run_id: string | null;
  /** The runs an ingestion run ingests, in the order given (bulk ingestion, CONTRACT 5.7). */
  source_run_ids: string[] | null;
  ingestion_run_id: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  error: RunError | null;
  products: EventProduct[] | null;
  priority?: number;
  /** Times it was resumed in place (POST /runs/{id}/resume). */
  resumed_count?: number;
  /** When the sweep deleted its per-instance rows (WFS_JOB_ROWS_RETENTION_DAYS). */
  jobs_pruned_at?: Date | null;
}

export interface JobRow {
  run_id: string;
  name: string;
  idx: number;
  position: number;
  item: Record<string, string | number> | null;
  state: JobState;
  attempts: number;
  exit_code: number | null;
  status_reason: string | null;
  host: string | null;
  pid: number | null;
  dispatched_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  /** The worker it is placed on (idle) or ran on. */
  worker_id?: string | null;
  /** The batch executor its attempt was handed to (slurm, htcondor), or null for a local one. */
  executor?: string | null;
  /** The batch system's id for the attempt (Slurm job id, HTCondor cluster.proc). */
  cluster_job_id?: string | null;
  /** The JSON object its last completed attempt wrote as its result. */
  result?: Record<string, unknown> | null;
  /** The round it is in (`repeat`), from 1. */
  round?: number;
  /** Read with the scheduling facts (RunQueries): why its group waits, its workflow paused, a backoff. */
  group_waiting?: string | null;
  workflow_paused?: boolean;
  backoff?: boolean;
}

export interface FileRow {
  run_id: string;
  name: string;
  size: string;
  sha256: string;
  uploaded_at: Date;
}

export interface JobView {
  name: string;
  index: number;
  stage?: string;
  state: JobState;
  attempts: number;
  exitCode: number | null;
  statusReason: string | null;
  host: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Why an idle instance has not started (null when it is not idle, or placed and starting). */
  waitingFor: WaitingFor | null;
  requests: { cpus: number; memory: string; gpus: number; labels: string[] } | null;
  /** Where its attempt ran (null before its first start). */
  executor: {
    kind: 'local' | 'slurm' | 'htcondor';
    host: string;
    /** The batch system's id for the attempt (null for a local one, or before the submit returned). */
    clusterJobId: string | null;
  } | null;
  /** The JSON object the job wrote as its result (`{{dirs.result}}`), or null. */
  result: Record<string, unknown> | null;
  /** The round it is in, or ran last (`repeat`), counting from 1. */
  round: number;
}

export interface FileView {
  name: string;
  size: number;
  sha256: string;
  uploadedAt: string;
}

/** The contract's Run object. */
export interface RunView {
  id: number;
  requestId: number;
  version: number;
  workflow: string;
  workflowVersion: number;
  subject: string | null;
  correlationId: string | null;
  parameters: Record<string, unknown>;
  state: RunState;
  qaState: QaState;
  archiveState: ArchiveState;
  diskState: DiskState;
  processingDir: string | null;
  resultsDir: string | null;
  sourceRunId: number | null;
  /** An ingestion run's sources: one (its sourceRunId), or up to 1,000 (POST /ingestions). */
  sourceRunIds: number[];
  ingestionRunId: number | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: RunError | null;
  /** 0-100: a higher priority's jobs start first. */
  priority: number;
  /** Times it was resumed in place after it failed or was cancelled. */
  resumedCount: number;
  /** Open gates waiting for a person's decision (CONTRACT 5.3). */
  waiting: Array<{ job: string; prompt: string; since: string | null }>;
  jobs: JobView[];
  /** Total job instances; `jobs` holds at most JOBS_INLINE_LIMIT of them (see /runs/{id}/jobs). */
  jobsTotal: number;
  /**
   * When the sweep deleted its per-instance rows (WFS_JOB_ROWS_RETENTION_DAYS): its `jobs` are
   * then empty while `jobsTotal` still counts them; null while they are kept.
   */
  jobsPrunedAt: string | null;
  files: FileView[];
}

export const JOBS_INLINE_LIMIT = 200;

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const num = (s: string | null): number | null => (s === null ? null : Number(s));

/** The runs an ingestion run ingests (none for another run). */
export const sourcesOf = (r: Pick<RunRow, 'source_run_id' | 'source_run_ids'>): number[] =>
  r.source_run_ids
    ? r.source_run_ids.map(Number)
    : r.source_run_id !== null
      ? [Number(r.source_run_id)]
      : [];

export function snapshotOf(r: RunRow): RunSnapshot {
  return {
    id: Number(r.id),
    requestId: Number(r.request_id),
    version: r.version,
    workflow: r.workflow,
    subject: r.subject,
    correlationId: r.correlation_id,
    state: r.state,
    qaState: r.qa_state,
    archiveState: r.archive_state,
    diskState: r.disk_state,
    processingDir: r.processing_dir,
    resultsDir: r.results_dir,
    sourceRunId: num(r.source_run_id),
    ingestionRunId: num(r.ingestion_run_id),
    error: r.error,
  };
}

export function jobView(j: JobRow, def?: JobDefinition): JobView {
  return {
    name: j.name,
    index: j.idx,
    ...(def ? { stage: def.stage } : {}),
    state: j.state,
    attempts: j.attempts,
    exitCode: j.exit_code,
    statusReason: j.status_reason,
    host: j.host,
    startedAt: iso(j.started_at),
    finishedAt: iso(j.finished_at),
    waitingFor: waitingForOf({
      state: j.state,
      readySince: j.dispatched_at,
      placed: !!j.worker_id,
      backoff: !!j.backoff,
      workflowPaused: !!j.workflow_paused,
      groupWaiting: j.group_waiting ?? null,
    }),
    requests: def
      ? {
          cpus: def.requestCpus,
          memory: def.requestMemory,
          gpus: def.requestGpus ?? 0,
          labels: def.requirements?.labels ?? [],
        }
      : null,
    executor: j.host
      ? {
          kind: (j.executor ?? 'local') as 'local' | 'slurm' | 'htcondor',
          host: j.host,
          clusterJobId: j.cluster_job_id ?? null,
        }
      : null,
    result: j.result ?? null,
    round: j.round ?? 1,
  };
}

export function fileView(f: FileRow): FileView {
  return {
    name: f.name,
    size: Number(f.size),
    sha256: f.sha256,
    uploadedAt: f.uploaded_at.toISOString(),
  };
}

export function runView(
  r: RunRow,
  jobs: JobRow[],
  jobsTotal: number,
  files: FileRow[],
  def?: WorkflowDefinition,
): RunView {
  const s = snapshotOf(r);
  return {
    id: s.id,
    requestId: s.requestId,
    version: r.version,
    workflow: r.workflow,
    workflowVersion: r.workflow_version,
    subject: r.subject,
    correlationId: r.correlation_id,
    parameters: r.parameters,
    state: r.state,
    qaState: r.qa_state,
    archiveState: r.archive_state,
    diskState: r.disk_state,
    processingDir: r.processing_dir,
    resultsDir: r.results_dir,
    sourceRunId: s.sourceRunId,
    sourceRunIds: sourcesOf(r),
    ingestionRunId: s.ingestionRunId,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    error: r.error,
    priority: r.priority ?? 50,
    resumedCount: r.resumed_count ?? 0,
    waiting: [],
    jobs: jobs.map((j) =>
      jobView(
        j,
        def?.jobs.find((d) => d.name === j.name),
      ),
    ),
    jobsTotal,
    jobsPrunedAt: iso(r.jobs_pruned_at ?? null),
    files: files.map(fileView),
  };
}

/** Locks a run row for the rest of the transaction: every change of a run goes through here. */
export async function lockRun(tx: Tx, runId: number): Promise<RunRow> {
  const [row] = await tx.query<RunRow>('SELECT * FROM runs WHERE id = $1 FOR UPDATE', [runId]);
  if (!row) throw notFound('run', runId);
  return row;
}

export type RunPatch = Partial<
  Pick<
    RunRow,
    | 'state'
    | 'qa_state'
    | 'archive_state'
    | 'disk_state'
    | 'processing_dir'
    | 'started_at'
    | 'finished_at'
    | 'error'
    | 'ingestion_run_id'
    | 'qa_state'
    | 'products'
    | 'priority'
    | 'jobs_pruned_at'
  >
>;

/**
 * The one door for a change of a run outside the job transitions (QA, reject,
 * cleanup, ingest, the sweeper, created): the patch and its events in one
 * statement, the events numbered by the outbox writer after the run's
 * counter. The caller holds the run's row lock (`lockRun`); returns the new row.
 */
export async function changeRun(
  tx: Tx,
  run: RunRow,
  patch: RunPatch,
  events: readonly PendingEvent[],
): Promise<RunRow> {
  const keys = Object.keys(patch) as Array<keyof RunPatch>;
  const sets = keys.map((k, i) => `${k} = $${i + 8}`);
  const values = keys.map((k) =>
    (k === 'error' || k === 'products') && patch[k] ? JSON.stringify(patch[k]) : patch[k],
  );
  // Numbered from 1 here; the statement adds the counter as the lock found it.
  const rows = numberEvents(snapshotOf({ ...run, ...patch }), 0, events);
  const [row] = await tx.query<RunRow & { written: string }>(
    `WITH u AS (
       UPDATE runs SET ${[...sets, 'updated_at = now()', 'last_sequence = last_sequence + $6'].join(', ')}
       WHERE id = $7 RETURNING *
     ), e AS (${outboxInsert(1, '(SELECT last_sequence - $6 FROM u)')})
     SELECT u.*, (SELECT count(*) FROM e) AS written, ${outboxNotify(5)} AS notified FROM u`,
    [...outboxParams(rows), notifyPayload(rows), events.length, run.id, ...values],
  );
  if (!row) throw notFound('run', Number(run.id));
  if (Number(row.written) !== events.length)
    throw new Error(`run ${run.id}: ${row.written} of ${events.length} events written`);
  const {
    written: _written,
    notified: _notified,
    ...updated
  } = row as RunRow & {
    written: string;
    notified: unknown;
  };
  return updated as RunRow;
}

/** Applies a patch to a locked run and returns the new row (a change that is no event of its own). */
export async function updateRun(tx: Tx, runId: number, patch: RunPatch): Promise<RunRow> {
  const keys = Object.keys(patch) as Array<keyof RunPatch>;
  const sets = keys.map((k, i) => `${k} = $${i + 2}`);
  const values = keys.map((k) =>
    (k === 'error' || k === 'products') && patch[k] ? JSON.stringify(patch[k]) : patch[k],
  );
  const [row] = await tx.query<RunRow>(
    `UPDATE runs SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE id = $1 RETURNING *`,
    [runId, ...values],
  );
  if (!row) throw notFound('run', runId);
  return row;
}
