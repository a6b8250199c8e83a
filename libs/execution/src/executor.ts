import type { JobKey, Requests } from '@wfs/domain';

/** What to run for one job attempt: never a shell command line, always an argument array. */
export interface ProcessSpec {
  runId: number;
  /** The attempt it runs: the recovery stops it if that attempt stops being this worker's. */
  key?: JobKey;
  executable: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  stdoutPath: string;
  stderrPath: string;
  /** A line written to both logs before the process starts (attempt, host, time). */
  banner: string;
  onStart?: (pid: number) => void;
  /** What the job asks for: a batch executor passes it on to the cluster (the local one was placed by it). */
  requests?: Requests;
  /** The run's directory of its own for what a batch executor writes (batch scripts, event logs). */
  workDir?: string;
  /** The job's name and index (a batch system's job name `wfs-<run>-<job>-<index>`). */
  job?: { name: string; index: number };
  /** Aborting it stops the process group as cancelRun does (the outcome says cancelled). */
  signal?: AbortSignal;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  spawnError: string | null;
  /**
   * A batch system's verdict that is not an exit: over its memory or removed
   * by someone else (judged as such), its node lost or the job evicted (tried
   * again as `worker_lost`), or held by the batch system (the job is held).
   */
  batchEnd?: { kind: 'out_of_memory' | 'removed_externally' | 'lost' | 'held'; message: string };
  /** The worker let go of the attempt (shutdown) while the batch system runs it: not finished here. */
  detached?: boolean;
}

/**
 * The executor port. The embedded default runs child processes on the
 * worker's host; the batch executor (batch/batch-executor.ts) hands them to
 * Slurm or HTCondor behind the same interface, durably: the batch system's id
 * is recorded with the attempt before anything else.
 */
export interface Executor {
  /** `local` runs processes itself; `slurm` and `htcondor` hand them to the site's cluster. */
  readonly kind: 'local' | 'slurm' | 'htcondor';
  run(spec: ProcessSpec): Promise<ProcessOutcome>;
  /**
   * Follows an attempt already handed to the batch system (by a submit host
   * that died or restarted) to its end, without submitting it again; a null
   * id (it died before recording one) is looked for by the attempt's name.
   * Only batch executors have it.
   */
  attach?(spec: ProcessSpec, clusterJobId: string | null): Promise<ProcessOutcome>;
  /** Stops every process of the run this executor started (its whole process group), and its tracked in-process work. */
  cancelRun(runId: number): number;
  /**
   * Registers work the worker does in-process for a run (a builtin step), so
   * that cancelRun and stopAll stop it too: they call `stop`. Returns the
   * function to call when that work has ended.
   */
  trackInProcess(runId: number, stop: () => void, key?: JobKey): () => void;
  /** The job attempts whose processes are running now (those started with a key). */
  attempts(): JobKey[];
  /**
   * Stops following these attempts without touching their batch jobs (another
   * submit host adopted them while this one was cut off); returns how many.
   * Only batch executors have it.
   */
  letGo?(keys: readonly JobKey[]): number;
  /** Stops the processes of these attempts as cancelRun does; returns how many it stopped. */
  stopAttempts(keys: readonly JobKey[]): number;
  /**
   * Shutdown. The local executor stops its processes and returns when they
   * are gone; a batch executor lets go of its attempts (they run on in the
   * cluster, and the next submit host re-attaches to them).
   */
  stopAll(): Promise<void>;
}
