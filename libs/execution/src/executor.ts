import type { JobKey } from '@wfs/domain';

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
  /** Aborting it stops the process group as cancelRun does (the outcome says cancelled). */
  signal?: AbortSignal;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  spawnError: string | null;
}

/**
 * The executor port. The embedded default runs child processes on the
 * worker's host; a batch-system adapter (HTCondor) plugs in behind the same
 * interface.
 */
export interface Executor {
  run(spec: ProcessSpec): Promise<ProcessOutcome>;
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
  /** Stops the processes of these attempts as cancelRun does; returns how many it stopped. */
  stopAttempts(keys: readonly JobKey[]): number;
  /** Stops everything (shutdown); returns when the processes are gone. */
  stopAll(): Promise<void>;
}
