/**
 * The batch-system half of the executor port (WORKFLOWS v1.1 "Batch
 * executors"): what wfs needs of a cluster a site already runs. One adapter
 * per system (Slurm, HTCondor) speaks its own command-line tools, never
 * through a shell. The BatchExecutor (batch-executor.ts) records the ids,
 * watches, and turns what the adapter reports into the job's transitions.
 */

/** One attempt, as a batch system is given it. Paths are absolute. */
export interface BatchSpec {
  /** `wfs-<run>-<job>-<index>`: the batch system's job name. */
  name: string;
  runId: number;
  job: string;
  index: number;
  attempt: number;
  executable: string;
  args: string[];
  /** The job's whole environment (nothing of the submit host's own is passed). */
  env: Record<string, string>;
  cwd: string;
  stdoutPath: string;
  stderrPath: string;
  /**
   * A directory of the run's own (its logs/) where the adapter may write what
   * the attempt needs: the batch script, the submit description, the job
   * event log. Their names must be derivable from the spec alone (re-attach
   * after a restart knows only the spec and the cluster job id).
   */
  workDir: string;
  cpus: number;
  memoryMb: number;
  gpus: number;
  /** Labels the execute node must have (Slurm features, HTCondor machine attributes). */
  labels: readonly string[];
  /** The job's time limit in seconds (wfs also enforces it itself). */
  timeoutSeconds: number;
}

/** Why a batch job ended, in the batch system's own terms mapped onto wfs's. */
export type BatchEnd =
  /** It ran and ended: exit code, or the signal that killed it. */
  | { kind: 'exited'; exitCode: number | null; signal: string | null }
  /** The batch system killed it at its time limit (Slurm TIMEOUT). */
  | { kind: 'timeout'; message: string }
  /** The batch system killed it over its memory (Slurm OUT_OF_MEMORY). */
  | { kind: 'out_of_memory'; message: string }
  /** Its node failed, it was preempted or evicted: tried again as `worker_lost`. */
  | { kind: 'lost'; message: string }
  /** Someone else removed it (scancel, condor_rm not by wfs): `removed_externally`. */
  | { kind: 'removed'; message: string }
  /** The batch system refused or could not start it (BOOT_FAIL, bad request...). */
  | { kind: 'failed_to_start'; message: string };

/** What the batch system says of one job now. */
export type BatchStatus =
  | { state: 'pending'; reason?: string }
  | { state: 'running'; node?: string }
  /** Held by the batch system (HTCondor 012, Slurm JobHeld*): reason and code as it gives them. */
  | { state: 'held'; reason: string }
  | { state: 'ended'; end: BatchEnd }
  /** The batch system no longer knows it and left no record of it. */
  | { state: 'unknown' };

export interface BatchSystem {
  readonly kind: 'slurm' | 'htcondor';
  /**
   * Submits one attempt and returns the batch system's job id. Throws an
   * Error with the tool's own message when it refuses.
   */
  submit(spec: BatchSpec): Promise<string>;
  /**
   * The state of these jobs, in one round of the tools (not one call per
   * job). `specs` gives the spec each id was submitted with (where an
   * adapter reads per-job files, such as HTCondor's event log).
   */
  status(jobs: ReadonlyArray<{ id: string; spec: BatchSpec }>): Promise<Map<string, BatchStatus>>;
  /** Asks the batch system to remove the job; a job already gone is not an error. */
  cancel(id: string): Promise<void>;
  /**
   * Finds an attempt submitted by a submit host that died before it recorded
   * the id (by its name and attempt): the id, or null if it was never
   * submitted (or left no trace).
   */
  find(spec: BatchSpec): Promise<string | null>;
}
