import {
  ChangeSet,
  EventJob,
  GroupFacts,
  JobDefinition,
  JobFacts,
  JobRules,
  RunFacts,
  StopLive,
  transitionArchive,
  transitionDiskTo,
  WorkflowDefinition,
} from '@wfs/domain';
import type { AttemptKey } from '@wfs/domain';
import {
  notifyPayload,
  numberEvents,
  outboxInsert,
  outboxNotify,
  outboxParams,
  OutboxRow,
  PendingEvent,
} from '@wfs/events';
import type { Tx } from '@wfs/persistence';
import type { WorkflowCatalog } from '@wfs/workflows';
import { JobRow, RunRow, snapshotOf } from './run-model';

/** The Postgres channel told (on commit) which run was cancelled or failed: workers kill its processes. */
export const CANCEL_CHANNEL = 'wfs_cancel';

/** A runs row with the counter of its event sequence. */
type LoadedRun = RunRow & { last_sequence: number };
type LoadedJob = JobRow & { worker_id: string | null };

interface GroupRow {
  run_id: string;
  name: string;
  needs: string[];
  completed: number;
  instances: number;
  released: boolean;
}

/** What a worker needs to run one claimed job instance. */
export interface ClaimedJob {
  run: RunRow;
  job: JobRow;
  definition: WorkflowDefinition;
  jobDefinition: JobDefinition;
  /** For an ingestion run: the run it ingests, with the definition that run was made from. */
  source: { run: RunRow; definition: WorkflowDefinition } | null;
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

export const runFacts = (r: RunRow): RunFacts => ({
  id: Number(r.id),
  state: r.state,
  qaState: r.qa_state,
  diskState: r.disk_state,
  products: r.products,
  sourceRunId: r.source_run_id === null ? null : Number(r.source_run_id),
});

export const jobFacts = (j: JobRow): JobFacts => ({
  name: j.name,
  index: j.idx,
  state: j.state,
  attempts: j.attempts,
  dispatched: j.dispatched_at !== null,
});

/** A job name as workflow definitions allow it (the definition schema's pattern). */
const JOB_NAME = /^[a-z][a-z0-9_]{0,63}$/;

const jobId = (runId: number | string, name: string, idx: number): string =>
  `${runId}\u0000${name}\u0000${idx}`;

const ints = (xs: readonly number[]) => `'{${xs.join(',')}}'`;
const validId = (id: number) => Number.isSafeInteger(id) && id > 0;

/** Which runs and rows a batch reads. */
export interface StoreScope {
  /** The instances the transitions name (their runs are locked). */
  keys: readonly Pick<AttemptKey, 'runId' | 'name' | 'index'>[];
  /** Runs whose job groups are needed (finishes). */
  groupsOf?: readonly number[];
  /** Runs whose running instances are needed (a cancel stops each). */
  runningOf?: readonly number[];
}

/**
 * The one store of job and run transitions. It locks a batch of runs (in id
 * order, so two batches never deadlock; the source runs of ingestion runs
 * after them), reads the rows the transitions need, applies the domain's
 * change sets to them in memory in the order asked, and writes everything
 * back set-based: one statement for instances, groups, runs, events (through
 * the outbox writer) and the release of ready groups, plus one for each run
 * that stops. A single transition is a batch of one.
 */
export class JobStore {
  private readonly runs = new Map<number, LoadedRun>();
  private readonly jobs = new Map<string, LoadedJob>();
  private readonly groups = new Map<number, GroupRow[]>();
  private readonly running = new Map<number, LoadedJob[]>();
  private readonly definitions = new Map<number, WorkflowDefinition>();
  private readonly dirtyJobs = new Map<
    string,
    { started: boolean; finished: boolean; retryMs: number | null }
  >();
  private readonly dirtyGroups = new Set<GroupRow>();
  private readonly dirtyRuns = new Map<
    number,
    { started: boolean; finished: boolean; touched: boolean }
  >();
  private readonly outbox: OutboxRow[] = [];
  private readonly release: Array<{ runId: number; name: string }> = [];
  private readonly stops: Array<{ runId: number; stop: StopLive }> = [];
  private readonly sealed = new Set<string>();

  private constructor(
    private readonly host: string,
    private readonly workerId: string | null,
  ) {}

  static async load(
    tx: Tx,
    catalog: WorkflowCatalog,
    scope: StoreScope,
    host = '',
    workerId: string | null = null,
  ): Promise<JobStore> {
    const store = new JobStore(host, workerId);
    // One round trip for the lock and the reads: statements without parameters go out together
    // (and with the transaction's BEGIN), so every value is put in the text, and only values
    // checked here can be: integers, and job names as definitions allow them, double-quoted in
    // the array (a job may be called "null"). A key that fails the check names no instance that
    // can exist, and is treated as such.
    const valid = scope.keys.filter(
      (k) =>
        validId(k.runId) && Number.isSafeInteger(k.index) && k.index >= 0 && JOB_NAME.test(k.name),
    );
    const runIds = [...new Set([...scope.keys.map((k) => k.runId), ...(scope.runningOf ?? [])])]
      .filter(validId)
      .sort((a, b) => a - b);
    const withGroups = [...new Set(scope.groupsOf ?? [])].filter(validId);
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
      LoadedJob & { groups: GroupRow[] | null }
    >;
    for (const r of runs) store.runs.set(Number(r.id), r);
    for (const { groups, ...j } of rows) {
      if (j.run_id !== null) store.jobs.set(jobId(j.run_id, j.name, j.idx), j as LoadedJob);
      for (const g of groups ?? []) {
        const list = store.groups.get(Number(g.run_id)) ?? [];
        list.push(g);
        store.groups.set(Number(g.run_id), list);
      }
    }
    // The runs ingestion runs ingest: locked after them (always in that order), as they settle.
    const sources = [
      ...new Set(runs.filter((r) => r.source_run_id !== null).map((r) => Number(r.source_run_id))),
    ]
      .filter((id) => !store.runs.has(id))
      .sort((a, b) => a - b);
    if (sources.length > 0) {
      for (const r of await tx.query<LoadedRun>(
        'SELECT * FROM runs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE',
        [sources],
      ))
        store.runs.set(Number(r.id), r);
    }
    const stopping = (scope.runningOf ?? []).filter((id) => store.runs.has(id));
    if (stopping.length > 0) {
      for (const j of await tx.query<LoadedJob>(
        `SELECT * FROM jobs WHERE run_id = ANY($1::bigint[]) AND state = 'running' ORDER BY run_id, position, idx`,
        [stopping],
      )) {
        store.jobs.set(jobId(j.run_id, j.name, j.idx), j);
        const list = store.running.get(Number(j.run_id)) ?? [];
        list.push(j);
        store.running.set(Number(j.run_id), list);
      }
    }
    for (const r of store.runs.values())
      store.definitions.set(Number(r.id), await catalog.getByDigest(r.workflow_digest));
    return store;
  }

  /** Whether the run exists (it was locked by this batch). */
  exists(runId: number): boolean {
    return this.runs.has(runId);
  }

  row(runId: number): RunRow | undefined {
    return this.runs.get(runId);
  }

  run(runId: number): RunFacts {
    return runFacts(this.runs.get(runId) as LoadedRun);
  }

  job(key: Pick<AttemptKey, 'runId' | 'name' | 'index'>): JobFacts | undefined {
    const j = this.jobs.get(jobId(key.runId, key.name, key.index));
    return j && jobFacts(j);
  }

  /** The running instances of a run loaded with `runningOf`, as they are now. */
  runningJobs(runId: number): JobFacts[] {
    return (this.running.get(runId) ?? []).filter((j) => j.state === 'running').map(jobFacts);
  }

  groupsOf(runId: number): GroupFacts[] {
    return this.groups.get(runId) ?? [];
  }

  definition(runId: number): WorkflowDefinition {
    return this.definitions.get(runId) as WorkflowDefinition;
  }

  rules(runId: number, name: string): JobRules | undefined {
    return this.definition(runId).jobs.find((j) => j.name === name);
  }

  /** What a claim hands the worker: the rows as they are after the claim. */
  claimed(key: AttemptKey): ClaimedJob {
    const run = this.runs.get(key.runId) as LoadedRun;
    const definition = this.definition(key.runId);
    const source =
      run.source_run_id === null ? undefined : this.runs.get(Number(run.source_run_id));
    return {
      run: { ...run },
      job: { ...(this.jobs.get(jobId(key.runId, key.name, key.index)) as LoadedJob) },
      definition,
      jobDefinition: definition.jobs.find((j) => j.name === key.name) as JobDefinition,
      source: source
        ? { run: { ...source }, definition: this.definition(Number(source.id)) }
        : null,
    };
  }

  /** Applies a change set of one run to the rows in memory; written by `flush`. */
  apply(runId: number, change: ChangeSet): void {
    const run = this.runs.get(runId) as LoadedRun;
    const def = this.definition(runId);
    const now = new Date();
    for (const c of change.jobs) {
      const id = jobId(runId, c.name, c.index);
      const job = this.jobs.get(id) as LoadedJob;
      Object.assign(job, {
        state: c.state,
        attempts: c.attempts,
        exit_code: c.exitCode,
        status_reason: c.statusReason,
      });
      if (c.started)
        Object.assign(job, {
          host: this.host,
          worker_id: this.workerId,
          pid: null,
          started_at: now,
          finished_at: null,
        });
      if (c.finished) job.finished_at = now;
      const d = this.dirtyJobs.get(id);
      this.dirtyJobs.set(id, {
        started: (d?.started ?? false) || !!c.started,
        finished: (d?.finished ?? false) || !!c.finished,
        retryMs: c.retryAfterMs ?? d?.retryMs ?? null,
      });
    }
    for (const g of change.groups) {
      const row = this.groups.get(runId)?.find((x) => x.name === g.name) as GroupRow;
      row.completed = g.completed;
      row.released = g.released;
      this.dirtyGroups.add(row);
    }
    if (change.run) {
      const r = change.run;
      if (r.state) run.state = r.state;
      if (r.qaState) run.qa_state = r.qaState;
      if (r.started) run.started_at = now;
      if (r.finished) run.finished_at = now;
      if (r.error) run.error = r.error;
      if (r.processingDir) run.processing_dir = r.processingDir;
      if (r.diskState) run.disk_state = r.diskState;
      if (r.products) run.products = [...(run.products ?? []), ...r.products];
      run.updated_at = now;
      this.touch(runId, { started: !!r.started, finished: !!r.finished, touched: true });
    }
    for (const name of change.release) this.release.push({ runId, name });
    if (change.stopLive) this.stops.push({ runId, stop: change.stopLive });
    const stage = (name: string) => def.jobs.find((j) => j.name === name)?.stage ?? '';
    this.append(
      run,
      change.events.map((e): PendingEvent => ({
        type: e.type,
        ...(e.job
          ? {
              job: eventJob(
                this.jobs.get(jobId(runId, e.job.name, e.job.index)) as LoadedJob,
                stage(e.job.name),
              ),
            }
          : {}),
        ...(e.products ? { products: run.products } : {}),
      })),
    );
    if (change.sourceChange || change.settleSource) this.changeSource(run, change);
  }

  /** The run an ingestion run ingests: its directory moved, and the ingestion's outcome. */
  private changeSource(ingestion: LoadedRun, change: ChangeSet): void {
    const source = this.runs.get(Number(ingestion.source_run_id));
    if (!source) return;
    const sourceId = Number(source.id);
    if (change.sourceChange?.processingDir)
      source.processing_dir = change.sourceChange.processingDir;
    if (change.sourceChange?.diskState)
      source.disk_state = transitionDiskTo(
        sourceId,
        source.disk_state,
        change.sourceChange.diskState,
      );
    if (change.sourceChange) this.touch(sourceId, { touched: true });
    // A later ingestion owns the source now: this one's outcome is not the source's.
    if (!change.settleSource || source.ingestion_run_id !== ingestion.id) return;
    if (change.settleSource === 'ingested') {
      source.archive_state = transitionArchive(sourceId, source.archive_state, 'succeed');
      this.sealed.add(source.request_id);
      this.touch(sourceId, { touched: true });
      this.append(source, [{ type: 'ingested', products: ingestion.products ?? [] }]);
    } else {
      source.archive_state = transitionArchive(sourceId, source.archive_state, 'fail');
      this.touch(sourceId, { touched: true });
      this.append(source, [{ type: 'ingestion-failed' }]);
    }
  }

  private touch(
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

  /** Numbers the events after the run's counter (the outbox writer); stored by `flush`. */
  private append(run: LoadedRun, events: PendingEvent[]): void {
    if (events.length === 0) return;
    this.outbox.push(...numberEvents(snapshotOf(run), Number(run.last_sequence), events));
    run.last_sequence = Number(run.last_sequence) + events.length;
    this.touch(Number(run.id), {});
  }

  /**
   * Writes what changed since the last flush; returns the job instances that
   * became ready (to be queued after commit).
   */
  async flush(tx: Tx): Promise<AttemptKey[]> {
    const ready = await this.writeRows(tx);
    // A run that failed or was cancelled stops its other live instances, set-based (a scatter may
    // have thousands), after the rows above are written; workers are told to kill its processes.
    for (const { runId, stop } of this.stops.splice(0)) {
      await tx.query(
        `UPDATE jobs SET state = CASE WHEN state = 'running' THEN 'removed' ELSE $2 END, status_reason = $3,
                finished_at = CASE WHEN state = 'running' THEN now() WHEN $5 THEN NULL ELSE finished_at END
         WHERE run_id = $1 AND state = ANY($4::text[])`,
        [runId, stop.idle, stop.reason, stop.states, stop.clearFinish],
      );
      await tx.query(`SELECT pg_notify('${CANCEL_CHANNEL}', $1)`, [String(runId)]);
    }
    return ready;
  }

  private async writeRows(tx: Tx): Promise<AttemptKey[]> {
    if (
      this.dirtyJobs.size + this.dirtyGroups.size + this.dirtyRuns.size === 0 &&
      this.outbox.length === 0 &&
      this.release.length === 0
    )
      return [];
    const jobs = [...this.dirtyJobs.entries()].map(([id, flags]) => ({
      job: this.jobs.get(id) as LoadedJob,
      ...flags,
    }));
    const groups = [...this.dirtyGroups];
    const runs = [...this.dirtyRuns.entries()].map(([id, flags]) => ({
      run: this.runs.get(id) as LoadedRun,
      ...flags,
    }));
    const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
    // One statement: its parts touch different rows (the release takes idle instances of groups
    // released in this batch, none of which this batch claimed), so none undoes another.
    const [out] = await tx.query<{
      jobs: string;
      groups: string;
      runs: string;
      events: string;
      sealed: string;
      ready: Array<[string, string, number]>;
    }>(
      `WITH j AS (
         UPDATE jobs j SET state = x.state, attempts = x.attempts, host = x.host, worker_id = x.worker_id,
                exit_code = x.exit_code, status_reason = x.status_reason,
                pid = CASE WHEN x.started THEN NULL ELSE j.pid END,
                dispatched_at = CASE WHEN x.retry_ms IS NOT NULL THEN now() + x.retry_ms * interval '1 millisecond'
                                     WHEN x.started THEN coalesce(j.dispatched_at, now()) ELSE j.dispatched_at END,
                started_at = CASE WHEN x.started THEN now() ELSE j.started_at END,
                finished_at = CASE WHEN x.finished THEN now() WHEN x.started THEN NULL ELSE j.finished_at END
         FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[],
                     $8::int[], $9::text[], $10::bool[], $11::bool[], $12::int[])
              AS x(run_id, name, idx, state, attempts, host, worker_id, exit_code, status_reason, started, finished, retry_ms)
         WHERE j.run_id = x.run_id AND j.name = x.name AND j.idx = x.idx
         RETURNING 1
       ), g AS (
         UPDATE job_groups g SET completed = x.completed, released = x.released
         FROM unnest($13::bigint[], $14::text[], $15::int[], $16::bool[]) AS x(run_id, name, completed, released)
         WHERE g.run_id = x.run_id AND g.name = x.name
         RETURNING 1
       ), r AS (
         UPDATE runs r SET state = x.state, qa_state = x.qa_state, archive_state = x.archive_state,
                disk_state = x.disk_state, processing_dir = x.processing_dir, error = x.error,
                products = x.products, last_sequence = x.last_sequence,
                started_at = CASE WHEN x.started THEN now() ELSE r.started_at END,
                finished_at = CASE WHEN x.finished THEN now() ELSE r.finished_at END,
                updated_at = CASE WHEN x.touched THEN now() ELSE r.updated_at END
         FROM unnest($17::bigint[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[],
                     $23::jsonb[], $24::jsonb[], $25::int[], $26::bool[], $27::bool[], $28::bool[])
              AS x(id, state, qa_state, archive_state, disk_state, processing_dir, error, products,
                   last_sequence, started, finished, touched)
         WHERE r.id = x.id
         RETURNING 1
       ), e AS (${outboxInsert(29)}
       ), rel AS (
         UPDATE jobs j SET dispatched_at = now()
         FROM unnest($34::bigint[], $35::text[]) AS x(run_id, name)
         WHERE j.run_id = x.run_id AND j.name = x.name AND j.state = 'idle'
         RETURNING j.run_id, j.name, j.idx, j.position
       ), s AS (
         UPDATE requests SET sealed = true WHERE id = ANY($36::bigint[]) RETURNING 1
       )
       SELECT (SELECT count(*) FROM j) AS jobs, (SELECT count(*) FROM g) AS groups,
              (SELECT count(*) FROM r) AS runs, (SELECT count(*) FROM e) AS events,
              (SELECT count(*) FROM s) AS sealed,
              (SELECT coalesce(json_agg(json_build_array(run_id, name, idx) ORDER BY run_id, position, idx), '[]')
                 FROM rel) AS ready,
              ${outboxNotify(33)} AS notified`,
      [
        jobs.map((x) => x.job.run_id),
        jobs.map((x) => x.job.name),
        jobs.map((x) => x.job.idx),
        jobs.map((x) => x.job.state),
        jobs.map((x) => x.job.attempts),
        jobs.map((x) => x.job.host),
        jobs.map((x) => x.job.worker_id),
        jobs.map((x) => x.job.exit_code),
        jobs.map((x) => x.job.status_reason),
        jobs.map((x) => x.started),
        jobs.map((x) => x.finished),
        jobs.map((x) => x.retryMs),
        groups.map((g) => g.run_id),
        groups.map((g) => g.name),
        groups.map((g) => g.completed),
        groups.map((g) => g.released),
        runs.map((x) => x.run.id),
        runs.map((x) => x.run.state),
        runs.map((x) => x.run.qa_state),
        runs.map((x) => x.run.archive_state),
        runs.map((x) => x.run.disk_state),
        runs.map((x) => x.run.processing_dir),
        runs.map((x) => json(x.run.error)),
        runs.map((x) => json(x.run.products)),
        runs.map((x) => x.run.last_sequence),
        runs.map((x) => x.started),
        runs.map((x) => x.finished),
        runs.map((x) => x.touched),
        ...outboxParams(this.outbox),
        notifyPayload(this.outbox),
        this.release.map((r) => r.runId),
        this.release.map((r) => r.name),
        [...this.sealed],
      ],
    );
    const expected = [jobs.length, groups.length, runs.length, this.outbox.length];
    const got = [out?.jobs, out?.groups, out?.runs, out?.events].map(Number);
    if (expected.some((n, i) => n !== got[i]))
      throw new Error(
        `job store wrote ${got.join('/')} of ${expected.join('/')} jobs/groups/runs/events`,
      );
    this.dirtyJobs.clear();
    this.dirtyGroups.clear();
    this.dirtyRuns.clear();
    this.outbox.length = 0;
    this.release.length = 0;
    this.sealed.clear();
    return (out?.ready ?? []).map(([runId, name, index]) => ({
      runId: Number(runId),
      name,
      index,
      attempt: 1,
    }));
  }
}
