import {
  DiskState,
  EventProduct,
  JobDefinition,
  JobVerdict,
  RunState,
  shouldRetry,
  readyGroups,
  retryDelayMs,
  transitionRun,
  WorkflowDefinition,
} from '@wfs/domain';
import { appendEvents, PendingEvent } from '@wfs/events';
import { Database, Tx } from '@wfs/persistence';
import { Dispatcher, JobKey } from '@wfs/dispatch';
import { WorkflowCatalog } from '@wfs/workflows';
import { JobRow, lockRun, RunRow, snapshotOf, updateRun } from './run-model';
import { CANCEL_CHANNEL } from './run-commands';
import { applySourceEffects, settleSource } from './ingestion-outcome';
import { eventJob, isRunningAttempt, JobBatch, mayClaim } from './job-batch';

/** What a worker needs to run one claimed job instance. */
export interface ClaimedJob {
  run: RunRow;
  job: JobRow;
  definition: WorkflowDefinition;
  jobDefinition: JobDefinition;
  /** For an ingestion run: the run it ingests, with the definition that run was made from. */
  source: { run: RunRow; definition: WorkflowDefinition } | null;
}

/** Changes a builtin step made to the run itself (e.g. its directory moved to the QA area). */
export interface RunEffects {
  processingDir?: string;
  diskState?: DiskState;
  /** Products this step put in the archive: kept on the run, carried by its complete event. */
  products?: EventProduct[];
  /** Changes to the run an ingestion run ingests (e.g. its directory moved back to the processing area). */
  source?: { processingDir?: string; diskState?: DiskState };
}

/**
 * Locks a run and one of its job instances in one round trip (the run first,
 * as everywhere). The job comes back as JSON: its timestamps are strings, and
 * only its state, attempts and dispatch mark are read from it.
 */
async function lockRunAndJob(
  tx: Tx,
  key: JobKey,
): Promise<{ run: RunRow; job: JobRow | undefined }> {
  const [row] = await tx.query<RunRow & { job_row: JobRow }>(
    `SELECT r.*, to_jsonb(j) AS job_row FROM runs r JOIN jobs j ON j.run_id = r.id AND j.name = $2 AND j.idx = $3
     WHERE r.id = $1 FOR UPDATE OF r, j`,
    [key.runId, key.name, key.index],
  );
  if (!row) return { run: await lockRun(tx, key.runId), job: undefined };
  const { job_row: job, ...run } = row;
  return { run: run as RunRow, job };
}

/** Attempts a job may lose to dying workers beyond its own retries. */
const LOST_ATTEMPTS_ALLOWED = 2;

type Op =
  | { kind: 'claim'; key: JobKey }
  | {
      kind: 'finish';
      key: JobKey;
      verdict: JobVerdict;
      exitCode: number | null;
      effects: RunEffects;
    }
  | { kind: 'lose'; key: JobKey; why: string };

interface Pending {
  op: Op;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** What one transition leaves to do after commit. */
interface After<T> {
  value: T;
  ready: JobKey[];
  retry: { key: JobKey; delayMs: number } | null;
}

/** Transitions taken into one transaction at most. */
const BATCH = 500;
/**
 * Batches under way at once. One: a second batch in flight mostly waits on
 * the first's run locks, and both come out smaller (measured: slower).
 */
const INFLIGHT = 1;

const hasEffects = (e: RunEffects): boolean =>
  !!(e.processingDir || e.diskState || e.products || e.source);

/**
 * The job half of the run aggregate: claim, finish, retry, advance the DAG.
 * Every change of a run holds its row lock until commit, so the steps of one
 * run are serial and its events numbered in order; a repeated or stale call
 * changes nothing.
 *
 * Group commit: the transitions this process is asked for while a
 * transaction is under way are taken together into the next one (up to
 * BATCH, of any number of runs), and the common ones are applied set-based
 * (JobBatch): a few statements and one commit for hundreds of transitions.
 * If a batch fails, each of its transitions is tried again alone, so one's
 * error is never another's.
 */
export class JobLifecycle {
  private readonly queue: Pending[] = [];
  private inflight = 0;
  private readonly enqueueing = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly dispatcher: Dispatcher,
    private readonly host: string,
    /** This process's id in the `workers` table: running jobs name it, so a dead worker's jobs can be found. */
    readonly workerId: string,
    private readonly onEnqueueError: (e: Error) => void = () => undefined,
  ) {}

  /** Marks an instance running for this attempt, or null if it must not run (cancelled, done, stale). */
  claim(key: JobKey): Promise<ClaimedJob | null> {
    return this.submit<ClaimedJob | null>({ kind: 'claim', key });
  }

  /** Applies a finished attempt's verdict; what became ready is queued once committed. */
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

  /** Waits until the jobs made ready so far are on the queue (before the worker lets go at shutdown). */
  async settled(): Promise<void> {
    while (this.enqueueing.size > 0) await Promise.all([...this.enqueueing]);
  }

  private submit<T>(op: Op): Promise<T> {
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
    let out: {
      values: unknown[];
      ready: JobKey[];
      retries: Array<{ key: JobKey; delayMs: number }>;
    };
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
    // Committed. The next batch need not wait for the queue: a message lost here (a crash, Redis
    // away) is re-sent by the reconciler, as the jobs are marked dispatched in Postgres.
    const enqueued = (async () => {
      await this.dispatcher.enqueue(out.ready);
      for (const r of out.retries) await this.dispatcher.enqueue([r.key], r.delayMs);
    })()
      .catch((e: Error) => this.onEnqueueError(e))
      .finally(() => this.enqueueing.delete(enqueued));
    this.enqueueing.add(enqueued);
    batch.forEach((p, i) => p.resolve(out.values[i]));
  }

  /** The batch's transitions in order: the common ones set-based, the rest one at a time. */
  private async apply(tx: Tx, ops: Op[]) {
    const batch = await JobBatch.load(
      tx,
      this.catalog,
      this.host,
      this.workerId,
      ops.map((o) => o.key),
      ops.filter((o) => o.kind === 'finish').map((o) => o.key.runId),
    );
    const values: unknown[] = [];
    const ready: JobKey[] = [];
    const retries: Array<{ key: JobKey; delayMs: number }> = [];
    for (const op of ops) {
      const runId = op.key.runId;
      if (op.kind === 'claim' && batch.canClaim(op.key)) {
        values.push(batch.claim(op.key));
      } else if (
        op.kind === 'finish' &&
        op.verdict.ok &&
        !hasEffects(op.effects) &&
        batch.canFinish(op.key)
      ) {
        batch.finish({ key: op.key, exitCode: op.exitCode });
        values.push(undefined);
      } else if (!batch.exists(runId)) {
        values.push(op.kind === 'claim' ? null : undefined); // no such run: nothing to do
      } else {
        ready.push(...(await batch.flush(tx)));
        batch.forget(runId);
        const after = await this.one(tx, op);
        values.push(after.value);
        ready.push(...after.ready);
        if (after.retry) retries.push(after.retry);
      }
    }
    ready.push(...(await batch.flush(tx)));
    return { values, ready, retries };
  }

  /** One transition on its own, reading and writing the database directly. */
  private one(tx: Tx, op: Op): Promise<After<unknown>> {
    switch (op.kind) {
      case 'claim':
        return this.claimOne(tx, op.key);
      case 'finish':
        return this.finishOne(tx, op.key, op.verdict, op.exitCode, op.effects);
      case 'lose':
        return this.loseOne(tx, op.key, op.why);
    }
  }

  private async claimOne(tx: Tx, key: JobKey): Promise<After<ClaimedJob | null>> {
    const none = { value: null, ready: [], retry: null };
    const locked = await lockRunAndJob(tx, key);
    let run = locked.run;
    const job = locked.job;
    if (!mayClaim(run, job, key)) return none;
    const definition = await this.catalog.getByDigest(run.workflow_digest);
    const jobDefinition = definition.jobs.find((j) => j.name === key.name);
    if (!jobDefinition) return none;
    const [started] = await tx.query<JobRow>(
      `UPDATE jobs SET state = 'running', attempts = attempts + 1, host = $4, worker_id = $5, pid = NULL,
              started_at = now(), finished_at = NULL, exit_code = NULL, status_reason = NULL
       WHERE run_id = $1 AND name = $2 AND idx = $3 RETURNING *`,
      [key.runId, key.name, key.index, this.host, this.workerId],
    );
    const events: PendingEvent[] = [];
    if (run.state === 'submitted') {
      run = await updateRun(tx, key.runId, {
        state: transitionRun(key.runId, run.state, 'start'),
        started_at: new Date(),
      });
      events.push({ type: 'running' });
    }
    events.push({ type: 'job-started', job: eventJob(started as JobRow, jobDefinition.stage) });
    await appendEvents(tx, snapshotOf(run), events);
    let source: ClaimedJob['source'] = null;
    if (run.source_run_id !== null) {
      const [sourceRun] = await tx.query<RunRow>('SELECT * FROM runs WHERE id = $1', [
        run.source_run_id,
      ]);
      if (sourceRun)
        source = {
          run: sourceRun,
          definition: await this.catalog.getByDigest(sourceRun.workflow_digest),
        };
    }
    return {
      value: { run, job: started as JobRow, definition, jobDefinition, source },
      ready: [],
      retry: null,
    };
  }

  /**
   * Records the process id, so operators (and cancel) can find it. False when
   * the attempt is no longer running (cancelled, or its run failed, between the
   * claim and the start of the process): the caller must stop the process, as
   * the cancel's notification came before there was a process to stop.
   */
  async recordPid(key: JobKey, pid: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE jobs SET pid = $4 WHERE run_id = $1 AND name = $2 AND idx = $3 AND attempts = $5 AND state = 'running' RETURNING 1`,
      [key.runId, key.name, key.index, pid, key.attempt],
    );
    return rows.length > 0;
  }

  private async finishOne(
    tx: Tx,
    key: JobKey,
    verdict: JobVerdict,
    exitCode: number | null,
    effects: RunEffects,
  ): Promise<After<undefined>> {
    const attempt = await this.runningAttempt(tx, key);
    // Cancelled, failed with the run, or a stale attempt: nothing to record.
    if (!attempt) return { value: undefined, ready: [], retry: null };
    const { run, job, definition, jobDef } = attempt;
    if (verdict.ok) return this.completed(tx, run, job, jobDef, definition, exitCode, effects);
    if (shouldRetry(verdict, job.attempts, jobDef.retries, jobDef.retryUnlessExit)) {
      return this.retryLater(
        tx,
        run,
        job,
        jobDef,
        `${verdict.reason}: ${verdict.message}`,
        verdict.exitCode,
        retryDelayMs(jobDef.retryBackoff, job.attempts),
      );
    }
    await this.failRun(tx, run, job, jobDef, verdict);
    return { value: undefined, ready: [], retry: null };
  }

  /**
   * The run, job and recipe of the attempt `key` names, locked, if that
   * attempt is still the job's running one in a live run; else null (a
   * cancel, a failed run or a later attempt got there first).
   */
  private async runningAttempt(tx: Tx, key: JobKey) {
    const { run, job } = await lockRunAndJob(tx, key);
    if (!isRunningAttempt(run, job, key)) return null;
    const definition = await this.catalog.getByDigest(run.workflow_digest);
    const jobDef = definition.jobs.find((j) => j.name === key.name) as JobDefinition;
    return { run, job, definition, jobDef };
  }

  private async loseOne(tx: Tx, key: JobKey, why: string): Promise<After<undefined>> {
    const attempt = await this.runningAttempt(tx, key);
    if (!attempt) return { value: undefined, ready: [], retry: null };
    const { run, job, jobDef } = attempt;
    if (job.attempts <= jobDef.retries + LOST_ATTEMPTS_ALLOWED)
      return this.retryLater(tx, run, job, jobDef, `worker_lost: ${why}`, null, 0);
    await this.failRun(tx, run, job, jobDef, {
      ok: false,
      reason: 'worker_lost',
      message: `was lost with its worker (${why})`,
      exitCode: null,
    });
    return { value: undefined, ready: [], retry: null };
  }

  /** Puts a failed attempt back to idle, due after the delay (so the reconciler does not hurry it). */
  private async retryLater(
    tx: Tx,
    run: RunRow,
    job: JobRow,
    jobDef: JobDefinition,
    reason: string,
    exitCode: number | null,
    delayMs: number,
  ) {
    const [idle] = await tx.query<JobRow>(
      `UPDATE jobs SET state = 'idle', exit_code = $4, status_reason = $5, finished_at = now(),
              dispatched_at = now() + $6 * interval '1 millisecond'
       WHERE run_id = $1 AND name = $2 AND idx = $3 RETURNING *`,
      [Number(run.id), job.name, job.idx, exitCode, reason, delayMs],
    );
    await appendEvents(tx, snapshotOf(run), [
      { type: 'job-retrying', job: eventJob(idle as JobRow, jobDef.stage) },
    ]);
    return {
      value: undefined,
      ready: [] as JobKey[],
      retry: {
        key: { runId: Number(run.id), name: job.name, index: job.idx, attempt: job.attempts + 1 },
        delayMs,
      },
    };
  }

  private async completed(
    tx: Tx,
    run: RunRow,
    job: JobRow,
    jobDef: JobDefinition,
    definition: WorkflowDefinition,
    exitCode: number | null,
    effects: RunEffects,
  ): Promise<After<undefined>> {
    const runId = Number(run.id);
    const [done] = await tx.query<JobRow>(
      `UPDATE jobs SET state = 'completed', exit_code = $4, status_reason = NULL, finished_at = now()
       WHERE run_id = $1 AND name = $2 AND idx = $3 RETURNING *`,
      [runId, job.name, job.idx, exitCode],
    );
    if (effects.processingDir || effects.diskState || effects.products) {
      run = await updateRun(tx, runId, {
        ...(effects.processingDir ? { processing_dir: effects.processingDir } : {}),
        ...(effects.diskState ? { disk_state: effects.diskState } : {}),
        ...(effects.products ? { products: [...(run.products ?? []), ...effects.products] } : {}),
      });
    }
    if (effects.source) await applySourceEffects(tx, run, effects.source);
    const events: PendingEvent[] = [
      { type: 'job-completed', job: eventJob(done as JobRow, jobDef.stage) },
    ];
    const [group] = await tx.query<{ completed: number; instances: number }>(
      'UPDATE job_groups SET completed = completed + 1 WHERE run_id = $1 AND name = $2 RETURNING completed, instances',
      [runId, job.name],
    );
    let ready: JobKey[] = [];
    if (group && group.completed === group.instances) {
      const groups = await tx.query<{
        name: string;
        needs: string[];
        completed: number;
        instances: number;
        released: boolean;
      }>('SELECT name, needs, completed, instances, released FROM job_groups WHERE run_id = $1', [
        runId,
      ]);
      const complete = new Set(
        groups.filter((g) => g.completed === g.instances).map((g) => g.name),
      );
      if (complete.size === groups.length) {
        run = await updateRun(tx, runId, {
          state: transitionRun(runId, run.state, 'complete'),
          finished_at: new Date(),
          qa_state: definition.requiresQa ? 'awaiting' : run.qa_state,
        });
        events.push({ type: 'complete', products: run.products });
        await settleSource(tx, run, definition, 'ingested');
      } else {
        const released = new Set(groups.filter((g) => g.released).map((g) => g.name));
        const release = readyGroups(groups, complete, released);
        if (release.length > 0) {
          await tx.query(
            'UPDATE job_groups SET released = true WHERE run_id = $1 AND name = ANY($2)',
            [runId, release],
          );
          const rows = await tx.query<{ name: string; idx: number }>(
            `UPDATE jobs SET dispatched_at = now() WHERE run_id = $1 AND name = ANY($2) AND state = 'idle' RETURNING name, idx`,
            [runId, release],
          );
          ready = rows.map((r) => ({ runId, name: r.name, index: r.idx, attempt: 1 }));
        }
      }
    }
    await appendEvents(tx, snapshotOf(run), events);
    return { value: undefined, ready, retry: null };
  }

  /** A job failed for good: the run fails naming it; the rest of the run stops. */
  private async failRun(
    tx: Tx,
    run: RunRow,
    job: JobRow,
    jobDef: JobDefinition,
    verdict: Exclude<JobVerdict, { ok: true }>,
  ): Promise<void> {
    const runId = Number(run.id);
    const reason = `${verdict.reason}: ${verdict.message}`;
    const [failed] = await tx.query<JobRow>(
      `UPDATE jobs SET state = 'failed', exit_code = $4, status_reason = $5, finished_at = now()
       WHERE run_id = $1 AND name = $2 AND idx = $3 RETURNING *`,
      [runId, job.name, job.idx, verdict.exitCode, reason],
    );
    const others = await tx.query<{ n: number }>(
      `WITH stopped AS (
         UPDATE jobs SET state = CASE WHEN state = 'running' THEN 'removed' ELSE 'skipped' END,
                         status_reason = 'run failed', finished_at = CASE WHEN state = 'running' THEN now() END
         WHERE run_id = $1 AND state IN ('idle', 'running', 'held') RETURNING state)
       SELECT count(*) FILTER (WHERE state = 'removed')::int AS n FROM stopped`,
      [runId],
    );
    const state: RunState = transitionRun(runId, run.state, 'fail');
    const label = jobDef.scatter ? `${jobDef.name}[${job.idx}]` : jobDef.name;
    const updated = await updateRun(tx, runId, {
      state,
      finished_at: new Date(),
      started_at: run.started_at ?? new Date(),
      error: { code: verdict.reason, message: `job ${label} ${verdict.message}` },
    });
    await appendEvents(tx, snapshotOf(updated), [
      { type: 'job-failed', job: eventJob(failed as JobRow, jobDef.stage) },
      { type: 'failed' },
    ]);
    await settleSource(tx, updated, await this.catalog.getByDigest(run.workflow_digest), 'failed');
    if ((others[0]?.n ?? 0) > 0)
      await tx.query(`SELECT pg_notify('${CANCEL_CHANNEL}', $1)`, [String(runId)]);
  }
}
