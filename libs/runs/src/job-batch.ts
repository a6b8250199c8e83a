import { randomUUID } from 'node:crypto';
import {
  buildEvent,
  EventJob,
  JobDefinition,
  readyGroups,
  transitionRun,
  WorkflowDefinition,
} from '@wfs/domain';
import { EVENTS_CHANNEL, PendingEvent } from '@wfs/events';
import type { Tx } from '@wfs/persistence';
import type { JobKey } from '@wfs/dispatch';
import type { WorkflowCatalog } from '@wfs/workflows';
import { JobRow, RunRow, snapshotOf } from './run-model';

/** A runs row with the counter of its event sequence. */
type LoadedRun = RunRow & { last_sequence: number };

interface GroupRow {
  run_id: string;
  name: string;
  needs: string[];
  completed: number;
  instances: number;
  released: boolean;
}

/** What the fast path needs to know about a finished attempt (the common case: it worked, no side effects). */
export interface CleanFinish {
  key: JobKey;
  exitCode: number | null;
}

export const eventJob = (j: JobRow, stage: string): EventJob => ({
  name: j.name,
  index: j.idx,
  state: j.state,
  attempts: j.attempts,
  exitCode: j.exit_code,
  statusReason: j.status_reason,
  stage,
});

/** Whether this message may start its instance: a live run, an idle dispatched instance, the next attempt. */
export function mayClaim(run: RunRow, job: JobRow | undefined, key: JobKey): job is JobRow {
  if (run.state !== 'submitted' && run.state !== 'running') return false;
  return (
    !!job && job.state === 'idle' && job.dispatched_at !== null && job.attempts + 1 === key.attempt
  );
}

/** Whether `key` names the running attempt of its instance in a live run (else a finish is stale). */
export function isRunningAttempt(run: RunRow, job: JobRow | undefined, key: JobKey): job is JobRow {
  if (!job || job.state !== 'running' || job.attempts !== key.attempt) return false;
  return run.state === 'running' || run.state === 'submitted';
}

/** A job name as workflow definitions allow it (the definition schema's pattern). */
const JOB_NAME = /^[a-z][a-z0-9_]{0,63}$/;

const jobId = (runId: number | string, name: string, idx: number): string =>
  `${runId}\u0000${name}\u0000${idx}`;

/**
 * The job transitions of many runs in one transaction, set-based: the runs
 * are locked once (in id order, so two workers' batches never deadlock),
 * their rows read once, each transition applied in memory in the order it
 * was asked for, and everything written back in one statement (jobs, groups,
 * runs, events and the release of newly ready groups) instead of five to
 * eight per transition. Only the common transitions go this way: a claim, and
 * a finish that succeeded without side effects on the run. The caller sends anything else (retries, failures, lost workers,
 * ingestion runs, directory moves) through the one-at-a-time path, after
 * `flush()`, and `forget()`s that run for the rest of the batch.
 */
export class JobBatch {
  private readonly runs = new Map<number, LoadedRun>();
  private readonly found = new Set<number>();
  private readonly jobs = new Map<string, JobRow>();
  private readonly groups = new Map<number, GroupRow[]>();
  private readonly definitions = new Map<number, WorkflowDefinition>();
  private readonly dirtyJobs = new Map<string, { started: boolean; finished: boolean }>();
  private readonly dirtyGroups = new Set<GroupRow>();
  private readonly dirtyRuns = new Map<
    number,
    { started: boolean; finished: boolean; touched: boolean }
  >();
  private readonly events: Array<{ runId: number; sequence: number; type: string; body: string }> =
    [];
  private readonly release: Array<{ runId: number; name: string }> = [];

  private constructor(
    private readonly host: string,
    private readonly workerId: string,
  ) {}

  /** Locks the runs the keys name (in id order) and reads them, their named jobs and, for finishes, their groups. */
  static async load(
    tx: Tx,
    catalog: WorkflowCatalog,
    host: string,
    workerId: string,
    keys: readonly JobKey[],
    groupsOf: readonly number[],
  ): Promise<JobBatch> {
    const batch = new JobBatch(host, workerId);
    // One round trip for the lock and the reads: statements without parameters go out together
    // (and with the transaction's BEGIN), so every value is put in the text, and only values
    // checked here can be: integers, and job names as definitions allow them, double-quoted in
    // the array (a job may be called "null"). A key that fails the check names no instance that
    // can exist, and is treated as such.
    const valid = keys.filter(
      (k) =>
        Number.isSafeInteger(k.runId) &&
        k.runId > 0 &&
        Number.isSafeInteger(k.index) &&
        k.index >= 0 &&
        JOB_NAME.test(k.name),
    );
    const ints = (xs: readonly number[]) => `'{${xs.join(',')}}'`;
    const runIds = [...new Set(keys.map((k) => k.runId))]
      .filter((id) => Number.isSafeInteger(id) && id > 0)
      .sort((a, b) => a - b);
    const withGroups = [...new Set(groupsOf)].filter((id) => Number.isSafeInteger(id) && id > 0);
    // Every row this batch reads or writes is found by primary key: nested loops over index
    // scans, whatever the statistics say (a table that just grew by a 10,000-instance plan looks
    // small until autovacuum analyzes it, and hash joins over sequential scans cost milliseconds).
    // The instances and groups are read after the lock, so they are as the last commit left them;
    // the groups come as JSON on the first row.
    const results = await tx.script(
      `SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;
       SELECT * FROM runs WHERE id = ANY(${ints(runIds)}::bigint[]) ORDER BY id FOR UPDATE;
       WITH g AS (
         SELECT coalesce(json_agg(json_build_object('run_id', run_id::text, 'name', name, 'needs', needs,
                  'completed', completed, 'instances', instances, 'released', released)), '[]') AS groups
         FROM job_groups WHERE run_id = ANY(${ints(withGroups)}::bigint[])
       )
       SELECT j.*, CASE WHEN row_number() OVER () = 1 THEN g.groups END AS groups
       FROM g LEFT JOIN (unnest(${ints(valid.map((k) => k.runId))}::bigint[],
                                '{${valid.map((k) => `"${k.name}"`).join(',')}}'::text[],
                                ${ints(valid.map((k) => k.index))}::int[]) AS k(run_id, name, idx)
                         JOIN jobs j ON j.run_id = k.run_id AND j.name = k.name AND j.idx = k.idx) ON true`,
    );
    const runs = results[results.length - 2] as unknown as LoadedRun[];
    const rows = results[results.length - 1] as unknown as Array<
      JobRow & { groups: GroupRow[] | null }
    >;
    for (const r of runs) {
      batch.runs.set(Number(r.id), r);
      batch.found.add(Number(r.id));
    }
    for (const { groups, ...j } of rows) {
      if (j.run_id !== null) batch.jobs.set(jobId(j.run_id, j.name, j.idx), j as JobRow);
      for (const g of groups ?? []) {
        const list = batch.groups.get(Number(g.run_id)) ?? [];
        list.push(g);
        batch.groups.set(Number(g.run_id), list);
      }
    }
    for (const r of runs)
      batch.definitions.set(Number(r.id), await catalog.getByDigest(r.workflow_digest));
    return batch;
  }

  /** Whether the run existed when the batch began. */
  exists(runId: number): boolean {
    return this.found.has(runId);
  }

  /** The run goes the one-at-a-time path from now on: its rows here may be stale. */
  forget(runId: number): void {
    this.runs.delete(runId);
  }

  /** Whether a claim of this key can be applied here (ingestion runs need their source run: not here). */
  canClaim(key: JobKey): boolean {
    const run = this.runs.get(key.runId);
    return run !== undefined && run.source_run_id === null;
  }

  /**
   * Whether a successful finish without effects can be applied here (an
   * ingestion run, which always has a source run, settles its source: not here).
   */
  canFinish(key: JobKey): boolean {
    const run = this.runs.get(key.runId);
    return run !== undefined && run.source_run_id === null && this.groups.has(key.runId);
  }

  /** As JobLifecycle's claim: the instance running for this attempt, or null if it must not run. */
  claim(key: JobKey): {
    run: RunRow;
    job: JobRow;
    definition: WorkflowDefinition;
    jobDefinition: JobDefinition;
  } | null {
    const run = this.runs.get(key.runId) as LoadedRun;
    const job = this.jobs.get(jobId(key.runId, key.name, key.index));
    if (!mayClaim(run, job, key)) return null;
    const definition = this.definitions.get(key.runId) as WorkflowDefinition;
    const jobDefinition = definition.jobs.find((j) => j.name === key.name);
    if (!jobDefinition) return null;
    const now = new Date();
    Object.assign(job, {
      state: 'running',
      attempts: job.attempts + 1,
      host: this.host,
      worker_id: this.workerId,
      pid: null,
      started_at: now,
      finished_at: null,
      exit_code: null,
      status_reason: null,
    });
    this.dirtyJobs.set(jobId(key.runId, key.name, key.index), { started: true, finished: false });
    const events: PendingEvent[] = [];
    if (run.state === 'submitted') {
      run.state = transitionRun(key.runId, run.state, 'start');
      run.started_at = now;
      run.updated_at = now;
      this.touchRun(key.runId, { started: true, touched: true });
      events.push({ type: 'running' });
    }
    events.push({ type: 'job-started', job: eventJob(job, jobDefinition.stage) });
    this.append(run, events);
    return { run: { ...run }, job: { ...job }, definition, jobDefinition };
  }

  /** As JobLifecycle's finish for a successful attempt with no effects; a stale call changes nothing. */
  finish({ key, exitCode }: CleanFinish): void {
    const run = this.runs.get(key.runId) as LoadedRun;
    const job = this.jobs.get(jobId(key.runId, key.name, key.index));
    if (!isRunningAttempt(run, job, key)) return;
    const definition = this.definitions.get(key.runId) as WorkflowDefinition;
    const jobDef = definition.jobs.find((j) => j.name === key.name) as JobDefinition;
    const now = new Date();
    Object.assign(job, {
      state: 'completed',
      exit_code: exitCode,
      status_reason: null,
      finished_at: now,
    });
    this.dirtyJobs.set(jobId(key.runId, key.name, key.index), {
      started: this.dirtyJobs.get(jobId(key.runId, key.name, key.index))?.started ?? false,
      finished: true,
    });
    const events: PendingEvent[] = [{ type: 'job-completed', job: eventJob(job, jobDef.stage) }];
    const groups = this.groups.get(key.runId) as GroupRow[];
    const group = groups.find((g) => g.name === key.name);
    if (group) {
      group.completed += 1;
      this.dirtyGroups.add(group);
      if (group.completed === group.instances) {
        const complete = new Set(
          groups.filter((g) => g.completed === g.instances).map((g) => g.name),
        );
        if (complete.size === groups.length) {
          run.state = transitionRun(key.runId, run.state, 'complete');
          run.finished_at = now;
          run.updated_at = now;
          if (definition.requiresQa) run.qa_state = 'awaiting';
          this.touchRun(key.runId, { finished: true, touched: true });
          events.push({ type: 'complete', products: run.products });
        } else {
          const released = new Set(groups.filter((g) => g.released).map((g) => g.name));
          for (const name of readyGroups(groups, complete, released)) {
            const g = groups.find((x) => x.name === name) as GroupRow;
            g.released = true;
            this.dirtyGroups.add(g);
            // Its instances read into this batch keep dispatched_at null: a claim of one in this
            // batch is refused (its message is a stray; the release queues it again), so the
            // release never touches a row this batch changed.
            this.release.push({ runId: key.runId, name });
          }
        }
      }
    }
    this.append(run, events);
  }

  private touchRun(
    runId: number,
    change: Partial<{ started: boolean; finished: boolean; touched: boolean }>,
  ): void {
    const d = this.dirtyRuns.get(runId) ?? { started: false, finished: false, touched: false };
    this.dirtyRuns.set(runId, {
      started: d.started || !!change.started,
      finished: d.finished || !!change.finished,
      touched: d.touched || !!change.touched,
    });
  }

  /** Numbers the events with the run's sequence; their time is set by Postgres when they are written. */
  private append(run: LoadedRun, events: PendingEvent[]): void {
    if (events.length === 0) return;
    const snapshot = snapshotOf(run);
    for (const e of events) {
      run.last_sequence += 1;
      const body = buildEvent(
        e.type,
        snapshot,
        { messageId: randomUUID(), sequence: 0, occurredAt: new Date(0) },
        e,
      );
      this.events.push({
        runId: Number(run.id),
        sequence: run.last_sequence,
        type: e.type,
        body: JSON.stringify(body),
      });
    }
    this.touchRun(Number(run.id), {});
  }

  /**
   * Writes what changed in memory since the last flush; returns the job
   * instances that became ready (to be queued after commit).
   */
  async flush(tx: Tx): Promise<JobKey[]> {
    if (
      this.dirtyJobs.size + this.dirtyGroups.size + this.dirtyRuns.size === 0 &&
      this.events.length === 0 &&
      this.release.length === 0
    )
      return [];
    const jobs = [...this.dirtyJobs.entries()].map(([id, flags]) => ({
      job: this.jobs.get(id) as JobRow,
      ...flags,
    }));
    const groups = [...this.dirtyGroups];
    const runs = [...this.dirtyRuns.entries()]
      .filter(([id]) => this.runs.has(id))
      .map(([id, flags]) => ({ run: this.runs.get(id) as LoadedRun, ...flags }));
    const runIds = [...new Set(this.events.map((e) => e.runId))].join(',');
    // One statement: its parts touch different rows (the release takes idle instances of groups
    // released in this batch, none of which this batch claimed), so none undoes another.
    const [out] = await tx.query<{
      jobs: string;
      groups: string;
      runs: string;
      events: string;
      ready: Array<[string, string, number]>;
    }>(
      `WITH j AS (
         UPDATE jobs j SET state = x.state, attempts = x.attempts, host = x.host, worker_id = x.worker_id,
                exit_code = x.exit_code, status_reason = x.status_reason,
                pid = CASE WHEN x.started THEN NULL ELSE j.pid END,
                dispatched_at = CASE WHEN x.started THEN coalesce(j.dispatched_at, now()) ELSE j.dispatched_at END,
                started_at = CASE WHEN x.started THEN now() ELSE j.started_at END,
                finished_at = CASE WHEN x.finished THEN now() WHEN x.started THEN NULL ELSE j.finished_at END
         FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[],
                     $8::int[], $9::text[], $10::bool[], $11::bool[])
              AS x(run_id, name, idx, state, attempts, host, worker_id, exit_code, status_reason, started, finished)
         WHERE j.run_id = x.run_id AND j.name = x.name AND j.idx = x.idx
         RETURNING 1
       ), g AS (
         UPDATE job_groups g SET completed = x.completed, released = x.released
         FROM unnest($12::bigint[], $13::text[], $14::int[], $15::bool[]) AS x(run_id, name, completed, released)
         WHERE g.run_id = x.run_id AND g.name = x.name
         RETURNING 1
       ), r AS (
         UPDATE runs r SET state = x.state, qa_state = x.qa_state, last_sequence = x.last_sequence,
                started_at = CASE WHEN x.started THEN now() ELSE r.started_at END,
                finished_at = CASE WHEN x.finished THEN now() ELSE r.finished_at END,
                updated_at = CASE WHEN x.touched THEN now() ELSE r.updated_at END
         FROM unnest($16::bigint[], $17::text[], $18::text[], $19::int[], $20::bool[], $21::bool[], $22::bool[])
              AS x(id, state, qa_state, last_sequence, started, finished, touched)
         WHERE r.id = x.id
         RETURNING 1
       ), e AS (
         INSERT INTO events (run_id, sequence, type, body)
         SELECT x.run_id, x.seq, x.t,
                x.b || jsonb_build_object('sequence', x.seq, 'occurredAt',
                         to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
         FROM unnest($23::bigint[], $24::int[], $25::text[], $26::jsonb[]) WITH ORDINALITY AS x(run_id, seq, t, b, n)
         ORDER BY x.n
         RETURNING 1
       ), rel AS (
         UPDATE jobs j SET dispatched_at = now()
         FROM unnest($28::bigint[], $29::text[]) AS x(run_id, name)
         WHERE j.run_id = x.run_id AND j.name = x.name AND j.state = 'idle'
         RETURNING j.run_id, j.name, j.idx, j.position
       )
       SELECT (SELECT count(*) FROM j) AS jobs, (SELECT count(*) FROM g) AS groups,
              (SELECT count(*) FROM r) AS runs, (SELECT count(*) FROM e) AS events,
              (SELECT coalesce(json_agg(json_build_array(run_id, name, idx) ORDER BY run_id, position, idx), '[]')
                 FROM rel) AS ready,
              CASE WHEN $27::text <> '' THEN pg_notify('${EVENTS_CHANNEL}', $27::text) END AS notified`,
      [
        jobs.map((x) => x.job.run_id),
        jobs.map((x) => x.job.name),
        jobs.map((x) => x.job.idx),
        jobs.map((x) => x.job.state),
        jobs.map((x) => x.job.attempts),
        jobs.map((x) => x.job.host),
        jobs.map((x) => (x.job as JobRow & { worker_id: string | null }).worker_id),
        jobs.map((x) => x.job.exit_code),
        jobs.map((x) => x.job.status_reason),
        jobs.map((x) => x.started),
        jobs.map((x) => x.finished),
        groups.map((g) => g.run_id),
        groups.map((g) => g.name),
        groups.map((g) => g.completed),
        groups.map((g) => g.released),
        runs.map((x) => x.run.id),
        runs.map((x) => x.run.state),
        runs.map((x) => x.run.qa_state),
        runs.map((x) => x.run.last_sequence),
        runs.map((x) => x.started),
        runs.map((x) => x.finished),
        runs.map((x) => x.touched),
        this.events.map((e) => e.runId),
        this.events.map((e) => e.sequence),
        this.events.map((e) => e.type),
        this.events.map((e) => e.body),
        runIds.length > 7900 ? '*' : runIds,
        this.release.map((r) => r.runId),
        this.release.map((r) => r.name),
      ],
    );
    const expected = [jobs.length, groups.length, runs.length, this.events.length];
    const got = [out?.jobs, out?.groups, out?.runs, out?.events].map(Number);
    if (expected.some((n, i) => n !== got[i]))
      throw new Error(
        `job batch wrote ${got.join('/')} of ${expected.join('/')} jobs/groups/runs/events`,
      );
    this.dirtyJobs.clear();
    this.dirtyGroups.clear();
    this.dirtyRuns.clear();
    this.events.length = 0;
    this.release.length = 0;
    return (out?.ready ?? []).map(([runId, name, index]) => ({
      runId: Number(runId),
      name,
      index,
      attempt: 1,
    }));
  }
}
