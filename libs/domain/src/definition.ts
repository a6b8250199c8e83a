/** A workflow definition as loaded from YAML and validated (see libs/workflows). */
export type SubjectKind = 'execution_block' | 'mous' | 'vlass_job' | 'none';
export type SuccessRule = 'exit_code' | 'casa';

/** One scatter dimension: an integer parameter (0..n-1), an array parameter, or literal values. */
export type ScatterSource = string | ReadonlyArray<string | number>;

export interface JobDefinition {
  name: string;
  stage: string;
  executable: string;
  arguments: string[];
  needs: string[];
  scatter: Record<string, ScatterSource> | null;
  /** Default 1 for a process, 0 for a builtin step (it runs inside the worker). */
  requestCpus: number;
  /** `16G` form; default `1G` for a process, `0` for a builtin step. */
  requestMemory: string;
  requestGpus: number;
  /** Labels a worker must have to run it (WFS_WORKER_LABELS). */
  requirements: { labels: string[] };
  /** Named limits it takes one of each while it runs (PUT /api/v1/limits/{name}). */
  concurrencyLimits: string[];
  timeout: number; // seconds
  retries: number;
  retryBackoff: number; // seconds, doubled each attempt
  retryUnlessExit: number | null;
  success: SuccessRule;
  outputs: string[];
  env: Record<string, string>;
  /** Runs only when this expression holds (expressions.ts), else skipped; checked when its needs are done. */
  when?: string | null;
  /** A gate's (`builtin:gate`) text shown to the person who decides. */
  prompt?: string | null;
  /** The roles that may decide a gate (default: da and above; admin always may). */
  approvers?: string[] | null;
  /** A gate's: the notification roles mailed when it waits (WFS_MAIL_ROLES). */
  notify?: string[] | null;
  /** A gate's: what happens when it waited `timeout` seconds (absent: it waits for a person). */
  onTimeout?: 'approve' | 'reject' | null;
  /** Runs round after round until `until` holds or `max` rounds ran (self-calibration loops). */
  repeat?: { max: number; until: string } | null;
  /**
   * `summary`: a scattered job's instances publish one `group-progress` event
   * at most once a second and a last one when the group is done, instead of
   * `job-started` and `job-completed` each (CONTRACT 5.8).
   */
  events?: 'all' | 'summary';
}

export interface InputDefinition {
  name: string;
  required: boolean;
  description: string;
}

export interface WorkflowDefinition {
  name: string;
  version: number;
  description: string;
  subjectKind: SubjectKind;
  telescope: string | null;
  requiresQa: boolean;
  /** `ingestion` runs ingest another run (their source) into the archive; see libs/operations. */
  role: 'processing' | 'ingestion';
  /** The ingestion workflow that ingests this workflow's runs (null: not ingestible). */
  ingestWith: string | null;
  /** `pass`: ingestion records QA pass whatever the DA gave (ALMA imaging); `as_given`: the DA's flag. */
  ingestQa: 'as_given' | 'pass';
  parameters: Record<string, unknown>;
  inputs: InputDefinition[];
  notify: Partial<Record<'started' | 'complete' | 'failed', string[]>>;
  products: Record<string, string[]>;
  jobs: JobDefinition[];
  /** Jobs of this workflow running at once over all its runs (null: unbounded). */
  maxConcurrentJobs: number | null;
  /** A new run's priority unless its creator gives one (0-100). */
  priority: number;
  /** sha256 of the source file: stored with every run. */
  digest: string;
}
