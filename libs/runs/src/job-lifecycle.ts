import {
  claimJob,
  finishJob,
  holdJob,
  isRunningAttempt,
  JobKey,
  JobVerdict,
  loseJob,
  RunEffects,
} from '@wfs/domain';
import { Database, Tx } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { ClaimedJob, JobStore } from './job-store';

export type { ClaimedJob } from './job-store';
export type { RunEffects } from '@wfs/domain';

/** A job transition the worker asks for (one message of a batch). */
export type JobOp =
  | { kind: 'claim'; key: JobKey }
  | {
      kind: 'finish';
      key: JobKey;
      verdict: JobVerdict;
      exitCode: number | null;
      effects: RunEffects;
    }
  | { kind: 'lose'; key: JobKey; why: string }
  | { kind: 'hold'; key: JobKey; reason: string };

interface Pending {
  op: JobOp;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Transitions taken into one transaction at most. */
const BATCH = 500;
/**
 * Batches under way at once. One: a second batch in flight mostly waits on
 * the first's run locks, and both come out smaller (measured: slower).
 */
const INFLIGHT = 1;

/**
 * The job half of the run aggregate: claim, finish, retry, lose, advance the
 * DAG. Each transition is the domain's pure function over the rows the store
 * loaded, applied by the one store; a repeated or stale call changes nothing.
 *
 * Group commit: the transitions this process is asked for while a
 * transaction is under way are taken together into the next one (up to
 * BATCH, of any number of runs) and written set-based: a few statements and
 * one commit for hundreds of transitions; alone, a transition is a batch of
 * one. If a batch fails, each of its transitions is tried again alone, so
 * one's error is never another's.
 */
export class JobLifecycle {
  private readonly queue: Pending[] = [];
  private inflight = 0;

  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly host: string,
    /**
     * This process's id in the `workers` table: the scheduler places jobs on it, running jobs
     * name it, so a dead worker's jobs can be found.
     */
    readonly workerId: string,
    /** The batch executor this worker hands attempts to (`slurm`, `htcondor`), null when it runs them itself. */
    readonly executor: string | null = null,
    /** WFS_MAX_JOBS_PER_RUN: a dynamic scatter planned at a finish is bounded by it too. */
    private readonly maxJobsPerRun: number | null = null,
  ) {}

  /** Marks an instance running for this attempt, or null if it must not run (cancelled, done, stale). */
  claim(key: JobKey): Promise<ClaimedJob | null> {
    return this.submit<ClaimedJob | null>({ kind: 'claim', key });
  }

  /** Applies a finished attempt's verdict; what became ready is the scheduler's to place. */
  finish(
    key: JobKey,
    verdict: JobVerdict,
    exitCode: number | null,
    effects: RunEffects = {},
  ): Promise<void> {
    return this.submit<void>({ kind: 'finish', key, verdict, exitCode, effects });
  }

  /**
   * A running attempt whose worker died (no heartbeat): it is tried again on
   * another worker, beyond the job's own retries by LOST_ATTEMPTS_ALLOWED, then
   * the run fails with reason worker_lost. A stale call changes nothing.
   */
  lose(key: JobKey, why: string): Promise<void> {
    return this.submit<void>({ kind: 'lose', key, why });
  }

  /**
   * A running attempt the batch system holds (HTCondor 012, Slurm JobHeld*):
   * the job is held with `batch_system: <reason>`, the attempt not counted as
   * a failure; the batch job is removed, a release submits a new attempt.
   */
  holdRunning(key: JobKey, reason: string): Promise<void> {
    return this.submit<void>({ kind: 'hold', key, reason });
  }

  /** Waits until the transitions asked for so far are written (before the worker lets go at shutdown). */
  async settled(): Promise<void> {
    while (this.queue.length > 0 || this.inflight > 0) await new Promise((r) => setTimeout(r, 10));
  }

  private submit<T>(op: JobOp): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, resolve: resolve as (v: unknown) => void, reject });
      if (this.inflight < INFLIGHT) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.inflight += 1;
    try {
      while (this.queue.length > 0) await this.runBatch(this.queue.splice(0, BATCH));
    } finally {
      this.inflight -= 1;
    }
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    let out: { values: unknown[] };
    try {
      out = await this.db.transaction((tx) =>
        this.apply(
          tx,
          batch.map((p) => p.op),
        ),
      );
    } catch (e) {
      if (batch.length === 1) return (batch[0] as Pending).reject(e);
      for (const p of batch) await this.runBatch([p]);
      return;
    }
    // Committed: what became ready (or freed a slot) woke the scheduler with the commit.
    batch.forEach((p, i) => p.resolve(out.values[i]));
  }

  /** The batch's transitions in order, each applied by the store to what the ones before left. */
  private async apply(tx: Tx, ops: JobOp[]) {
    const store = await JobStore.load(
      tx,
      this.catalog,
      {
        keys: ops.map((o) => o.key),
        groupsOf: ops.filter((o) => o.kind === 'finish').map((o) => o.key.runId),
      },
      this.host,
      this.workerId,
      this.executor,
      this.maxJobsPerRun,
    );
    const values: unknown[] = [];
    for (const op of ops) {
      const { key } = op;
      if (!store.exists(key.runId)) {
        values.push(op.kind === 'claim' ? null : undefined); // no such run: nothing to do
        continue;
      }
      const run = store.run(key.runId);
      const job = store.job(key);
      const rules = store.rules(key.runId, key.name);
      const change =
        op.kind === 'claim'
          ? claimJob(run, job, key, rules, this.workerId)
          : !rules
            ? null
            : op.kind === 'finish'
              ? finishJob(
                  run,
                  job,
                  key,
                  rules,
                  store.groupsOf(key.runId),
                  op.verdict,
                  op.exitCode,
                  op.effects,
                )
              : op.kind === 'lose'
                ? loseJob(run, job, key, rules, op.why)
                : job && isRunningAttempt(run, job, key)
                  ? holdJob(run, job, `batch_system: ${op.reason}`)
                  : null;
      if (change) store.apply(key.runId, change);
      values.push(op.kind === 'claim' ? (change ? store.claimed(key) : null) : undefined);
    }
    await store.flush(tx);
    return { values };
  }

  /**
   * Records the process id, so operators (and cancel) can find it. False when
   * the attempt is no longer running (cancelled, or its run failed, between the
   * claim and the start of the process): the caller must stop the process, as
   * the cancel's notification came before there was a process to stop.
   */
  async recordPid(key: JobKey, pid: number): Promise<boolean> {
    return this.record(key, 'pid', pid);
  }

  /**
   * Records the batch system's id for a running attempt, before anything else
   * is done with it (CONTRACT 5.3 `executor.clusterJobId`): a submit host
   * that restarts re-attaches by it, never submitting the attempt again.
   * False when the attempt stopped running meanwhile: the caller removes the
   * batch job.
   */
  recordClusterJob(key: JobKey, clusterJobId: string): Promise<boolean> {
    return this.record(key, 'cluster_job_id', clusterJobId);
  }

  /**
   * What a worker needs to follow a running attempt it did not claim itself
   * (one adopted from a dead submit host), or null when it is not running.
   */
  async attempt(key: JobKey): Promise<ClaimedJob | null> {
    return this.db.transaction(async (tx) => {
      const store = await JobStore.load(tx, this.catalog, { keys: [key] });
      if (!store.exists(key.runId)) return null;
      const job = store.job(key);
      return job && isRunningAttempt(store.run(key.runId), job, key) ? store.claimed(key) : null;
    });
  }

  /** The results of a run's unscattered jobs that wrote one (what `{{jobs.<name>.result...}}` reads). */
  async resultsOf(runId: number): Promise<Record<string, { result: unknown }>> {
    const rows = await this.db.query<{ name: string; result: unknown }>(
      'SELECT name, result FROM job_groups WHERE run_id = $1 AND result IS NOT NULL',
      [runId],
    );
    return Object.fromEntries(rows.map((r) => [r.name, { result: r.result }]));
  }

  private async record(
    key: JobKey,
    column: 'pid' | 'cluster_job_id',
    value: number | string,
  ): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE jobs SET ${column} = $4 WHERE run_id = $1 AND name = $2 AND idx = $3 AND attempts = $5 AND state = 'running' RETURNING 1`,
      [key.runId, key.name, key.index, value, key.attempt],
    );
    return rows.length > 0;
  }
}
