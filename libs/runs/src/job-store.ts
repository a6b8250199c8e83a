import {
  ChangeSet,
  EventJob,
  GroupFacts,
  handedToBatch,
  JobDefinition,
  JobFacts,
  JobRules,
  RunFacts,
  Reopen,
  StopLive,
  transitionArchive,
  transitionDiskTo,
  WorkflowDefinition,
} from '@wfs/domain';
import type { JobKey } from '@wfs/domain';
import { numberEvents, OutboxRow, PendingEvent } from '@wfs/events';
import type { Tx } from '@wfs/persistence';
import type { WorkflowCatalog } from '@wfs/workflows';
import {
  GroupRow,
  LoadedJob,
  LoadedRun,
  lockAndRead,
  StoreScope,
  markProgress,
  planGroup,
  reopenStopped,
  skipGroup,
  stopLive,
  writeRows,
} from './job-store-sql';
import { JobRow, RunRow, snapshotOf, sourcesOf } from './run-model';

export { CANCEL_CHANNEL, SCHEDULE_CHANNEL, STOP_CHANNEL } from './job-store-sql';
export type { StoreScope } from './job-store-sql';

/** What a worker needs to run one claimed job instance. */
export interface ClaimedJob {
  run: RunRow;
  job: JobRow;
  definition: WorkflowDefinition;
  jobDefinition: JobDefinition;
  /** For an ingestion run: the runs it ingests, each with the definition it was made from. */
  sources: Array<{ run: RunRow; definition: WorkflowDefinition }>;
}

/** The executable of a gate: a job a person decides (CONTRACT 5.4). */
export const GATE = 'builtin:gate';

export const eventJob = (j: JobRow, stage: string): EventJob => ({
  name: j.name,
  index: j.idx,
  state: j.state,
  attempts: j.attempts,
  exitCode: j.exit_code,
  statusReason: j.status_reason,
  stage,
  executor: j.host
    ? { kind: j.executor ?? 'local', host: j.host, clusterJobId: j.cluster_job_id ?? null }
    : null,
});

export const runFacts = (r: RunRow): RunFacts => ({
  id: Number(r.id),
  state: r.state,
  qaState: r.qa_state,
  diskState: r.disk_state,
  products: r.products,
  ingests: sourcesOf(r).length > 0,
  parameters: r.parameters,
  subject: r.subject,
});

export const jobFacts = (j: LoadedJob): JobFacts => ({
  name: j.name,
  index: j.idx,
  state: j.state,
  attempts: j.attempts,
  dispatched: j.dispatched_at !== null,
  assignedTo: j.worker_id,
  uncounted: j.uncounted_attempts,
  round: j.round ?? 1,
});

const jobId = (runId: number | string, name: string, idx: number): string =>
  `${runId}\u0000${name}\u0000${idx}`;

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
    { started: boolean; finished: boolean; resumed: boolean; touched: boolean }
  >();
  private readonly outbox: OutboxRow[] = [];
  private readonly release: Array<{ runId: number; name: string }> = [];
  private readonly stops: Array<{ runId: number; stop: StopLive }> = [];
  private readonly reopens: Array<{ runId: number; reopen: Reopen }> = [];
  private readonly skips: Array<{ runId: number; skip: { name: string; reason: string } }> = [];
  private readonly plans: Array<{
    runId: number;
    plan: { name: string; items: ReadonlyArray<Record<string, string | number>> };
  }> = [];
  /** Running attempts to stop (`<run>,<job>,<index>,<attempt>` on STOP_CHANNEL). */
  private readonly stopAttempts: string[] = [];
  /** `<run id>,<group>` of summary groups: true, a group-progress is due; false, the last was sent. */
  private readonly progress = new Map<string, boolean>();
  /** Something the scheduler must look at again: a slot freed, an instance ready or released. */
  private reschedule = false;
  private readonly sealed = new Set<string>();

  private constructor(
    private readonly host: string,
    private readonly workerId: string | null,
    /** The batch executor this worker hands attempts to (recorded with the claim), null for local. */
    private readonly executor: string | null,
    private readonly maxJobs: number | null = null,
  ) {}

  static async load(
    tx: Tx,
    catalog: WorkflowCatalog,
    scope: StoreScope,
    host = '',
    workerId: string | null = null,
    executor: string | null = null,
    /** WFS_MAX_JOBS_PER_RUN, which bounds a dynamic scatter too (null: unbounded here). */
    maxJobs: number | null = null,
  ): Promise<JobStore> {
    const store = new JobStore(host, workerId, executor, maxJobs);
    const rows = await lockAndRead(tx, scope);
    for (const r of rows.runs) store.runs.set(Number(r.id), r);
    for (const j of rows.jobs) store.jobs.set(jobId(j.run_id, j.name, j.idx), j);
    for (const g of rows.groups) {
      const list = store.groups.get(Number(g.run_id)) ?? [];
      list.push(g);
      store.groups.set(Number(g.run_id), list);
    }
    for (const j of rows.running) {
      store.jobs.set(jobId(j.run_id, j.name, j.idx), j);
      const list = store.running.get(Number(j.run_id)) ?? [];
      list.push(j);
      store.running.set(Number(j.run_id), list);
    }
    for (const r of store.runs.values())
      store.definitions.set(Number(r.id), await catalog.getByDigest(r.workflow_digest));
    // A finish may open a gate (it waits for a person): its one instance is read too.
    for (const runId of scope.groupsOf ?? []) {
      const gates = (store.definitions.get(runId)?.jobs ?? [])
        .filter((j) => j.executable === GATE)
        .map((j) => j.name);
      if (gates.length === 0) continue;
      for (const j of await tx.query<LoadedJob>(
        'SELECT * FROM jobs WHERE run_id = $1 AND name = ANY($2::text[]) AND idx = 0',
        [runId, gates],
      ))
        if (!store.jobs.has(jobId(j.run_id, j.name, j.idx)))
          store.jobs.set(jobId(j.run_id, j.name, j.idx), j);
    }
    return store;
  }

  exists(runId: number): boolean {
    return this.runs.has(runId);
  }

  row(runId: number): RunRow | undefined {
    return this.runs.get(runId);
  }

  run(runId: number): RunFacts {
    const facts = runFacts(this.runs.get(runId) as LoadedRun);
    return this.maxJobs === null ? facts : { ...facts, maxJobs: this.maxJobs };
  }

  job(key: Pick<JobKey, 'runId' | 'name' | 'index'>): JobFacts | undefined {
    const j = this.jobs.get(jobId(key.runId, key.name, key.index));
    return j && jobFacts(j);
  }

  /** The running instances of a run loaded with `runningOf`, as they are now. */
  runningJobs(runId: number): JobFacts[] {
    return (this.running.get(runId) ?? []).filter((j) => j.state === 'running').map(jobFacts);
  }

  /** The run's groups as the domain sees them, each with its definition's `when`. */
  groupsOf(runId: number): GroupFacts[] {
    const def = this.definitions.get(runId);
    return (this.groups.get(runId) ?? []).map((g) => {
      const job = def?.jobs.find((j) => j.name === g.name);
      return {
        ...g,
        when: job?.when ?? null,
        gate: job?.executable === GATE ? { prompt: job.prompt ?? '' } : null,
        scatter: job?.scatter ?? null,
      };
    });
  }

  definition(runId: number): WorkflowDefinition {
    return this.definitions.get(runId) as WorkflowDefinition;
  }

  rules(runId: number, name: string): JobRules | undefined {
    return this.definition(runId).jobs.find((j) => j.name === name);
  }

  /** What a claim hands the worker: the rows as they are after the claim. */
  claimed(key: JobKey): ClaimedJob {
    const run = this.runs.get(key.runId) as LoadedRun;
    const definition = this.definition(key.runId);
    const sources = sourcesOf(run).map((id) => this.runs.get(id) as LoadedRun);
    return {
      run: { ...run },
      job: { ...(this.jobs.get(jobId(key.runId, key.name, key.index)) as LoadedJob) },
      definition,
      jobDefinition: definition.jobs.find((j) => j.name === key.name) as JobDefinition,
      sources: sources.map((s) => ({ run: { ...s }, definition: this.definition(Number(s.id)) })),
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
      // Only the scheduler places an instance: one that is idle or held again is on no worker.
      if (c.state === 'idle' || c.state === 'held') job.worker_id = null;
      if (c.uncountAttempt) job.uncounted_attempts += 1;
      if (c.result) job.result = c.result;
      if (c.round) job.round = c.round;
      if (c.state !== 'running') this.reschedule = true;
      if (c.started)
        Object.assign(job, {
          host: this.host,
          worker_id: this.workerId,
          pid: null,
          // Recorded with the claim for what goes to the batch system: a submit host that dies
          // before recording the batch id leaves an attempt the next one can look for by name.
          result: null,
          executor: handedToBatch(
            def.jobs.find((j) => j.name === c.name)?.executable ?? '',
            this.executor,
          )
            ? this.executor
            : null,
          cluster_job_id: null,
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
      row.skipped = !!g.skipped;
      row.result = g.result ?? null;
      row.instances = g.instances;
      row.planned = g.planned !== false;
      this.dirtyGroups.add(row);
    }
    if (change.run) {
      const r = change.run;
      if (r.state) run.state = r.state;
      if (r.qaState) run.qa_state = r.qaState;
      if (r.started) run.started_at = now;
      if (r.finished) run.finished_at = now;
      if (r.error) run.error = r.error;
      if (r.parameters) run.parameters = r.parameters;
      if (r.resumed) {
        run.finished_at = null;
        run.error = null;
        run.resumed_count = (run.resumed_count ?? 0) + 1;
      }
      if (r.processingDir) run.processing_dir = r.processingDir;
      if (r.diskState) run.disk_state = r.diskState;
      if (r.products) run.products = [...(run.products ?? []), ...r.products];
      run.updated_at = now;
      this.touch(runId, {
        started: !!r.started,
        finished: !!r.finished,
        resumed: !!r.resumed,
        touched: true,
      });
    }
    for (const name of change.release) this.release.push({ runId, name });
    if (change.release.length > 0) this.reschedule = true;
    if (change.stopLive) this.stops.push({ runId, stop: change.stopLive });
    if (change.reopen) this.reopens.push({ runId, reopen: change.reopen });
    for (const skip of change.skip) this.skips.push({ runId, skip });
    for (const plan of change.plan) this.plans.push({ runId, plan });
    for (const a of change.stopAttempts)
      this.stopAttempts.push(`${runId},${a.name},${a.index},${a.attempt}`);
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
        ...(change.actor ? { actor: change.actor } : {}),
        ...(e.gate && e.job ? { gate: { job: e.job.name, ...e.gate } } : {}),
        ...(e.progress ? { progress: e.progress } : {}),
      })),
    );
    // Summary groups: a group-progress is due, or was just sent as the group's last.
    for (const name of change.progress) this.progress.set(`${runId},${name}`, true);
    for (const e of change.events)
      if (e.progress) this.progress.set(`${runId},${e.progress.job}`, false);
    if (change.sourceChanges.length > 0 || change.settleSource) this.changeSources(run, change);
  }

  /**
   * The runs an ingestion run ingests (one, or up to 1,000 in a bulk
   * ingestion): their directories moved, and the ingestion's outcome, each
   * source's `ingested` carrying its own products.
   */
  private changeSources(ingestion: LoadedRun, change: ChangeSet): void {
    const ids = sourcesOf(ingestion);
    for (const c of change.sourceChanges) {
      const source = ids.includes(c.runId) ? this.runs.get(c.runId) : undefined;
      if (!source)
        throw new Error(`run ${c.runId} is not a source of ingestion run ${ingestion.id}`);
      if (c.processingDir) source.processing_dir = c.processingDir;
      if (c.diskState)
        source.disk_state = transitionDiskTo(c.runId, source.disk_state, c.diskState);
      this.touch(c.runId, { touched: true });
    }
    if (!change.settleSource) return;
    for (const id of ids) {
      const source = this.runs.get(id);
      if (source) this.settleSource(ingestion, source, change.settleSource);
    }
  }

  private settleSource(
    ingestion: LoadedRun,
    source: LoadedRun,
    outcome: 'ingested' | 'failed',
  ): void {
    const sourceId = Number(source.id);
    // A later ingestion owns the source now: this one's outcome is not the source's.
    if (source.ingestion_run_id !== ingestion.id) return;
    if (outcome === 'ingested') {
      source.archive_state = transitionArchive(sourceId, source.archive_state, 'succeed');
      this.sealed.add(source.request_id);
      this.touch(sourceId, { touched: true });
      // Products name their source; older ones (before bulk ingestion) belong to the only one.
      const products = (ingestion.products ?? []).filter(
        (p) => p.sourceRunId === undefined || p.sourceRunId === sourceId,
      );
      this.append(source, [{ type: 'ingested', products }]);
    } else {
      source.archive_state = transitionArchive(sourceId, source.archive_state, 'fail');
      this.touch(sourceId, { touched: true });
      this.append(source, [{ type: 'ingestion-failed' }]);
    }
  }

  private touch(
    runId: number,
    change: Partial<{ started: boolean; finished: boolean; resumed: boolean; touched: boolean }>,
  ): void {
    const d = this.dirtyRuns.get(runId) ?? {
      started: false,
      finished: false,
      resumed: false,
      touched: false,
    };
    this.dirtyRuns.set(runId, {
      started: d.started || !!change.started,
      finished: d.finished || !!change.finished,
      resumed: d.resumed || !!change.resumed,
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
   * Writes what changed since the last flush; returns how many job instances
   * became ready (the commit wakes the scheduler, which places them).
   */
  async flush(tx: Tx): Promise<number> {
    const ready = await this.writeRows(tx);
    // A run that failed or was cancelled stops its other live instances, set-based (a scatter may
    // have thousands), after the rows above are written; workers are told to kill its processes.
    for (const { runId, stop } of this.stops.splice(0)) await stopLive(tx, runId, stop);
    // A resumed run's instances that did not complete are idle again, set-based.
    for (const { runId, reopen } of this.reopens.splice(0)) await reopenStopped(tx, runId, reopen);
    // Groups whose `when` did not hold: their instances never run.
    for (const { runId, skip } of this.skips.splice(0)) await skipGroup(tx, runId, skip);
    // Dynamic scatters planned from a result: their instances, ready at once.
    for (const { runId, plan } of this.plans.splice(0)) await planGroup(tx, runId, plan);
    if (this.progress.size > 0) {
      await markProgress(tx, [...this.progress.entries()]);
      this.progress.clear();
    }
    return ready;
  }

  private async writeRows(tx: Tx): Promise<number> {
    if (
      this.dirtyJobs.size + this.dirtyGroups.size + this.dirtyRuns.size === 0 &&
      this.outbox.length === 0 &&
      this.release.length === 0 &&
      this.stopAttempts.length === 0
    )
      return 0;
    const ready = await writeRows(tx, {
      jobs: [...this.dirtyJobs.entries()].map(([id, flags]) => ({
        job: this.jobs.get(id) as LoadedJob,
        ...flags,
      })),
      groups: [...this.dirtyGroups],
      runs: [...this.dirtyRuns.entries()].map(([id, flags]) => ({
        run: this.runs.get(id) as LoadedRun,
        ...flags,
      })),
      outbox: this.outbox,
      release: this.release,
      sealed: [...this.sealed],
      stopAttempts: this.stopAttempts,
      reschedule: this.reschedule,
    });
    this.stopAttempts.length = 0;
    this.reschedule = false;
    this.dirtyJobs.clear();
    this.dirtyGroups.clear();
    this.dirtyRuns.clear();
    this.outbox.length = 0;
    this.release.length = 0;
    this.sealed.clear();
    return ready;
  }
}
