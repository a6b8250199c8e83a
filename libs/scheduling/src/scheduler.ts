import {
  CandidateGroup,
  couldEverFit,
  JobDefinition,
  jobRequests,
  JobKey,
  schedule,
  WorkerCapacity,
  WorkflowDefinition,
} from '@wfs/domain';
import { Dispatcher } from '@wfs/dispatch';
import { Database, LeaderLock, PgListener, Wakeup, wakeOnNotify } from '@wfs/persistence';
import { HoldJobs, SCHEDULE_CHANNEL } from '@wfs/runs';
import { WorkflowCatalog } from '@wfs/workflows';
import {
  heldForWorkers,
  readSchedulingState,
  SchedulingRows,
  writePlacements,
  writeWaiting,
} from './scheduler-sql';
import { inUse, jobOf } from './usage';

interface Log {
  log(m: string): void;
  warn(m: string): void;
}

const LEADER_LOCK = 'wfs-scheduler';
/** A pass at least this often: retries whose backoff ended, workers that died or came. */
const TICK_MS = 1000;
/** Instances the scheduler held for want of a worker are looked at again this often (and when workers change). */
const HELD_RECHECK_MS = 15_000;

/**
 * The scheduler (HTCondor's negotiator, in one active worker process per
 * database): every pass reads from Postgres what the live workers have and
 * use, the limits and paused workflows, and the ready instances of every
 * active run; decides with the domain's `schedule` (priority, round-robin,
 * partitionable slots, labels, limits); records each placement in Postgres
 * (`jobs.worker_id` on the idle instance: reserved there) and only then sends
 * it to that worker's own queue. A worker claims only what was placed on it,
 * so a lost or repeated message, a Redis flush or a worker restart can never
 * start a job that does not fit or that breaks a limit. Woken by NOTIFY
 * `wfs_schedule` on every commit that frees a slot or makes an instance ready.
 */
export class Scheduler {
  private readonly leader: LeaderLock;
  private readonly wakeup = new Wakeup();
  private listener: PgListener | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private lastServed = new Map<number, number>();
  private perGroup = 64;
  private readonly waitingWritten = new Map<string, string | null>();
  private workersSeen = '';
  private heldCheckedAt = 0;
  placed = 0;
  passes = 0;

  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly dispatcher: Dispatcher,
    private readonly holds: HoldJobs,
    private readonly log: Log,
  ) {
    this.leader = new LeaderLock(db.url, LEADER_LOCK, () => this.log.log('scheduler: active'));
  }

  async start(): Promise<void> {
    this.listener = await wakeOnNotify(this.db.url, SCHEDULE_CHANNEL, this.wakeup);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeup.poke();
    await this.loop;
    await this.listener?.close();
    await this.leader.release();
  }

  /** Ask for a pass soon (this process's own changes). */
  poke(): void {
    this.wakeup.poke();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!(await this.leader.held())) {
          await this.wakeup.sleep(TICK_MS);
          continue;
        }
        const placed = await this.pass();
        if (placed === 0) await this.wakeup.sleep(TICK_MS);
      } catch (e) {
        if (!this.stopped) this.log.warn(`scheduler: ${(e as Error).message}; retrying`);
        await this.wakeup.sleep(500);
      }
    }
  }

  /** One scheduling pass; returns how many instances it placed. */
  async pass(): Promise<number> {
    this.passes++;
    const { rows, decision, workers } = await this.db.transaction(async (tx) => {
      const rows = await readSchedulingState(tx, this.perGroup);
      const state = await this.stateOf(rows);
      const decision = schedule(await this.candidates(rows), state);
      const placed = await writePlacements(tx, decision.placements);
      return { rows, decision: { ...decision, placed }, workers: state.workers };
    });
    this.lastServed = decision.lastServed;
    this.perGroup = Math.max(
      16,
      workers.reduce((n, w) => n + w.slots, 0),
    );
    await this.send(rows, decision.placed);
    await this.recordWaiting(decision.waiting);
    if (decision.holds.length > 0) {
      const n = await this.holds.holdIdle(decision.holds.slice(0, 1000));
      if (n > 0) this.log.warn(`scheduler: held ${n} instance(s): ${decision.holds[0]?.reason}`);
    }
    await this.releaseFitting(workers);
    this.placed += decision.placed.length;
    return decision.placed.length;
  }

  private async stateOf(rows: SchedulingRows) {
    const workers: WorkerCapacity[] = rows.workers.map((w) => ({
      id: w.id,
      executor: w.executor,
      cpus: w.cpus,
      memoryMb: Number(w.memory_mb),
      gpus: w.gpus,
      labels: w.labels,
      slots: w.slots,
    }));
    const { usage, limitUse, workflowUse } = await inUse(this.catalog, rows.placed);
    return {
      workers,
      usage,
      limits: new Map(rows.limits.map((l) => [l.name, l.max])),
      limitUse,
      workflowUse,
      paused: new Set(rows.paused),
      lastServed: this.lastServed,
    };
  }

  private async candidates(rows: SchedulingRows): Promise<CandidateGroup[]> {
    const out: CandidateGroup[] = [];
    for (const c of rows.candidates) {
      const def = await this.definition(c.workflow_digest);
      const job = def?.jobs.find((j) => j.name === c.name);
      if (!def || !job) continue;
      out.push({
        runId: Number(c.run_id),
        name: c.name,
        workflow: c.workflow,
        priority: c.priority,
        requests: jobRequests(job),
        limits: job.concurrencyLimits ?? [],
        maxConcurrentJobs: def.maxConcurrentJobs ?? null,
        instances: c.idx.map((index, i) => ({ index, attempt: c.attempt[i] as number })),
      });
    }
    return out;
  }

  /** After commit: each placement to its worker's queue (a send lost here is re-sent by the reconciler). */
  private async send(
    rows: SchedulingRows,
    placed: ReadonlyArray<{
      run_id: string;
      name: string;
      idx: number;
      attempt: number;
      worker_id: string;
    }>,
  ): Promise<void> {
    const byWorker = new Map<string, JobKey[]>();
    for (const p of placed) {
      const list = byWorker.get(p.worker_id) ?? [];
      list.push({ runId: Number(p.run_id), name: p.name, index: p.idx, attempt: p.attempt });
      byWorker.set(p.worker_id, list);
    }
    await Promise.all(
      [...byWorker].map(async ([workerId, keys]) => {
        const queue = rows.workers.find((w) => w.id === workerId)?.queue;
        if (!queue) return;
        await this.dispatcher
          .send(queue, keys)
          .catch((e: Error) =>
            this.log.warn(`scheduler: sending to ${workerId} failed (${e.message}); re-sent later`),
          );
      }),
    );
  }

  private async recordWaiting(
    waiting: ReadonlyArray<{ runId: number; name: string; waitingFor: string | null }>,
  ): Promise<void> {
    const changed = waiting.filter(
      (w) => this.waitingWritten.get(`${w.runId}/${w.name}`) !== w.waitingFor,
    );
    if (changed.length === 0) return;
    await writeWaiting(this.db, changed);
    for (const w of changed) this.waitingWritten.set(`${w.runId}/${w.name}`, w.waitingFor);
    if (this.waitingWritten.size > 100_000) this.waitingWritten.clear();
  }

  /** Instances held for want of a worker go back to idle once a live worker could run them. */
  private async releaseFitting(workers: readonly WorkerCapacity[]): Promise<void> {
    const seen = workers
      .map((w) => `${w.id}:${w.cpus}:${w.memoryMb}:${w.gpus}:${w.labels}`)
      .join('|');
    if (seen === this.workersSeen && Date.now() - this.heldCheckedAt < HELD_RECHECK_MS) return;
    this.workersSeen = seen;
    this.heldCheckedAt = Date.now();
    const fitting = [];
    for (const h of await heldForWorkers(this.db)) {
      const job = await this.job(h.workflow_digest, h.name);
      if (job && workers.some((w) => couldEverFit(w, jobRequests(job))))
        fitting.push({ runId: Number(h.run_id), name: h.name, index: h.idx });
    }
    const n = await this.holds.releaseHeld(fitting);
    if (n > 0) {
      this.log.log(`scheduler: released ${n} instance(s) a live worker now fits`);
      this.wakeup.poke();
    }
  }

  private async definition(digest: string): Promise<WorkflowDefinition | null> {
    return this.catalog.getByDigest(digest).catch(() => null);
  }

  private job(digest: string, name: string): Promise<JobDefinition | undefined> {
    return jobOf(this.catalog, digest, name);
  }
}
