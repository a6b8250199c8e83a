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
  CandidateRow,
  heldForWorkers,
  readCandidates,
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
/** Under load, passes at most this often: each then places what several commits freed. */
const PASS_SPACING_MS = 10;
/** Groups' read cursors are all dropped this often: a retried instance behind one is found. */
const CURSOR_RESET_MS = 5000;
/** Priority levels read in one pass (the highest first). */
const MAX_LEVELS = 5;

const clamp = (n: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, n));

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
  /** Per priority level: the run after which the next pass reads (round-robin over all runs). */
  private readonly turn = new Map<number, number>();
  /** Per `<run>/<group position>`: the last instance placed (the next read starts after it). */
  private readonly groupCursor = new Map<string, number>();
  private cursorsSince = Date.now();
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
        else await new Promise((r) => setTimeout(r, PASS_SPACING_MS));
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
      const rows = await readSchedulingState(tx);
      const state = await this.stateOf(rows);
      // Room for this many more placements over all live workers: read about as many candidates.
      const free = state.workers.reduce(
        (n, w) => n + Math.max(0, w.slots + (w.prefetch ?? 0) - (state.usage.get(w.id)?.jobs ?? 0)),
        0,
      );
      const levels = rows.levels
        .slice(0, MAX_LEVELS)
        .map((priority) => ({ priority, after: this.turn.get(priority) ?? 0 }));
      const perGroup = clamp(free, 1, 1000);
      const read =
        free > 0
          ? await readCandidates(tx, levels, clamp(free, 16, 1000), perGroup, this.cursors())
          : [];
      this.takeTurns(levels, read);
      const decision = schedule(await this.candidates(read), state);
      const placed = await writePlacements(tx, decision.placements);
      this.moveCursors(read, perGroup, placed);
      return { rows, decision: { ...decision, placed }, workers: state.workers };
    });
    this.lastServed = decision.lastServed;
    if (this.lastServed.size > 50_000) this.lastServed = new Map();
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

  /** Where each group's next read starts (`after` its last placed instance), for readCandidates. */
  private cursors(): Array<{ runId: number; position: number; after: number }> {
    if (Date.now() - this.cursorsSince > CURSOR_RESET_MS) {
      this.groupCursor.clear();
      this.cursorsSince = Date.now();
    }
    return [...this.groupCursor].map(([k, after]) => {
      const [runId, position] = k.split('/').map(Number) as [number, number];
      return { runId, position, after };
    });
  }

  /**
   * A group's cursor moves past what was placed; a group read to its end
   * (fewer than asked) is read from its start again next time, where a retried
   * instance may wait (and every CURSOR_RESET_MS for all groups).
   */
  private moveCursors(
    read: readonly CandidateRow[],
    perGroup: number,
    placed: ReadonlyArray<{ run_id: string; name: string; idx: number }>,
  ): void {
    const position = new Map<string, number>();
    for (const c of read) {
      if (c.name === null || c.position === null) continue;
      position.set(`${c.run_id}/${c.name}`, c.position);
      if ((c.idx?.length ?? 0) < perGroup) this.groupCursor.delete(`${c.run_id}/${c.position}`);
    }
    for (const p of placed) {
      const at = position.get(`${p.run_id}/${p.name}`);
      if (at === undefined) continue;
      const key = `${p.run_id}/${at}`;
      this.groupCursor.set(key, Math.max(this.groupCursor.get(key) ?? -1, p.idx));
    }
    if (this.groupCursor.size > 10_000) this.groupCursor.clear();
  }

  /**
   * Where each priority level's turns go on next pass: after the last run this
   * pass read at that level (every run with ready work is read in its turn,
   * however many there are).
   */
  private takeTurns(
    levels: ReadonlyArray<{ priority: number }>,
    read: readonly CandidateRow[],
  ): void {
    for (const { priority } of levels) {
      const at = read.filter((c) => c.priority === priority);
      const last = at[at.length - 1];
      this.turn.set(priority, last ? Number(last.run_id) : 0);
    }
    if (this.turn.size > 1000) this.turn.clear();
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
      // As many again queued as it runs: it never idles waiting for a pass between short jobs.
      prefetch: w.slots,
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

  private async candidates(read: readonly CandidateRow[]): Promise<CandidateGroup[]> {
    const out: CandidateGroup[] = [];
    for (const c of read) {
      if (!c.name || !c.idx || !c.attempt || !c.workflow || !c.workflow_digest) continue;
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
        instances: c.idx.map((index, i) => ({
          index,
          attempt: (c.attempt as number[])[i] as number,
        })),
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
    // Only reasons are written: a placed instance waits for nothing whatever its group says.
    const changed = waiting.filter(
      (w) =>
        w.waitingFor !== null && this.waitingWritten.get(`${w.runId}/${w.name}`) !== w.waitingFor,
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
