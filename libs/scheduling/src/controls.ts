import {
  EventActor,
  formatMemory,
  invalid,
  jobRequests,
  notFound,
  WORKER_DEAD_AFTER_S,
} from '@wfs/domain';
import { insertWorkflowEvent } from '@wfs/events';
import type { Repository } from 'typeorm';
import { Database, Tx, WorkflowPauseEntity } from '@wfs/persistence';
import { SCHEDULE_CHANNEL } from '@wfs/runs';
import { WorkflowCatalog } from '@wfs/workflows';
import { PlacedRow } from './scheduler-sql';
import { inUse, jobOf } from './usage';

export interface LimitView {
  name: string;
  max: number;
  inUse: number;
}

export interface PauseView {
  by: string;
  reason: string;
  at: string;
}

export interface WorkerView {
  id: string;
  host: string;
  executor: string;
  cpus: number;
  memory: string;
  gpus: number;
  labels: string[];
  slots: number;
  cpusInUse: number;
  memoryInUse: string;
  gpusInUse: number;
  jobs: Array<{ runId: number; job: string; index: number; state: 'placed' | 'running' }>;
  startedAt: string;
  lastSeenAt: string;
  alive: boolean;
}

/** A limit's name, as a definition's `concurrencyLimits` lists it. */
const LIMIT_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;

const PLACED = `SELECT j.worker_id, r.workflow, r.workflow_digest, j.name, count(*)::int AS n
  FROM jobs j JOIN runs r ON r.id = j.run_id
  WHERE j.worker_id IS NOT NULL AND j.state IN ('idle', 'running') GROUP BY 1, 2, 3, 4`;

/** Scheduling's own pass lock: a control change and a pass never interleave. */
const lockPasses = (tx: Tx) =>
  tx.query(`SELECT pg_advisory_xact_lock(hashtext('wfs-scheduler-pass'))`);
const wakeScheduler = (tx: Tx) => tx.query(`SELECT pg_notify('${SCHEDULE_CHANNEL}', '')`);

/**
 * What operations staff set and read about scheduling (CONTRACT 5.3, 5.5):
 * named concurrency limits, paused workflows, the workers and what they use.
 * Each change takes the scheduler's pass lock and wakes it on commit.
 */
export class SchedulingControls {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    /** Listing the pauses reads through the entity; pausing keeps its SQL (pass lock, outbox). */
    private readonly pauses: Repository<WorkflowPauseEntity>,
  ) {}

  async limits(): Promise<LimitView[]> {
    const [rows, placed] = await Promise.all([
      this.db.query<{ name: string; max: number }>(
        'SELECT name, max FROM concurrency_limits ORDER BY name',
      ),
      this.db.query<PlacedRow>(PLACED),
    ]);
    const { limitUse } = await inUse(this.catalog, placed);
    return rows.map((r) => ({ name: r.name, max: r.max, inUse: limitUse.get(r.name) ?? 0 }));
  }

  async setLimit(name: string, max: unknown): Promise<LimitView> {
    if (!LIMIT_NAME.test(name))
      throw invalid(
        'INVALID_LIMIT',
        `A limit's name is 1-64 characters: a-z first, then a-z, 0-9, _ . -.`,
        {
          fields: { name: 'must match ^[a-z][a-z0-9_.-]{0,63}$' },
        },
      );
    if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 0 || max > 1_000_000)
      throw invalid('INVALID_LIMIT', `A limit's max is an integer from 0 to 1000000.`, {
        fields: { max: 'must be an integer from 0 to 1000000' },
      });
    await this.db.transaction(async (tx) => {
      await lockPasses(tx);
      await tx.query(
        `INSERT INTO concurrency_limits (name, max) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET max = EXCLUDED.max, updated_at = now()`,
        [name, max],
      );
      await wakeScheduler(tx);
    });
    return (await this.limits()).find((l) => l.name === name) as LimitView;
  }

  async deleteLimit(name: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockPasses(tx);
      const gone = await tx.query('DELETE FROM concurrency_limits WHERE name = $1 RETURNING 1', [
        name,
      ]);
      if (gone.length === 0) throw notFound('limit', name);
      await wakeScheduler(tx);
    });
  }

  /** Paused workflows by name. */
  async paused(): Promise<Map<string, PauseView>> {
    const rows = await this.pauses.find();
    return new Map(
      rows.map((r) => [
        r.workflow,
        { by: r.pausedBy, reason: r.reason, at: r.pausedAt.toISOString() },
      ]),
    );
  }

  /**
   * No job of the workflow starts until unpaused; running ones go on. What the
   * scheduler had placed but not yet started is taken back. Pausing a paused
   * workflow changes nothing (the first pause stands).
   */
  async pause(workflow: string, reason: unknown, actor: EventActor): Promise<PauseView> {
    this.catalog.get(workflow); // 404 with suggestions
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 500)
      throw invalid('INVALID_REASON', 'A pause needs a reason: 1-500 characters.', {
        fields: { reason: 'is required (1-500 characters)' },
      });
    await this.db.transaction(async (tx) => {
      await lockPasses(tx);
      const made = await tx.query(
        `INSERT INTO workflow_pauses (workflow, paused_by, reason) VALUES ($1, $2, $3)
         ON CONFLICT (workflow) DO NOTHING RETURNING 1`,
        [workflow, actor.name, reason.trim()],
      );
      if (made.length === 0) return;
      await tx.query(
        `UPDATE jobs j SET worker_id = NULL, assigned_at = NULL FROM runs r
         WHERE r.id = j.run_id AND r.workflow = $1 AND r.state IN ('submitted', 'running')
           AND j.state = 'idle' AND j.worker_id IS NOT NULL`,
        [workflow],
      );
      await insertWorkflowEvent(tx, { workflow, what: 'paused', actor, reason: reason.trim() });
    });
    return (await this.paused()).get(workflow) as PauseView;
  }

  async unpause(workflow: string, actor: EventActor): Promise<void> {
    this.catalog.get(workflow);
    await this.db.transaction(async (tx) => {
      await lockPasses(tx);
      const gone = await tx.query('DELETE FROM workflow_pauses WHERE workflow = $1 RETURNING 1', [
        workflow,
      ]);
      if (gone.length === 0) return;
      await insertWorkflowEvent(tx, { workflow, what: 'unpaused', actor, reason: null });
      await wakeScheduler(tx);
    });
  }

  /**
   * Job instances by where they are in scheduling, from Postgres (the record;
   * the worker queues in Redis hold only copies of the placed ones): ready and
   * waiting for a slot, in a retry's backoff, placed on a worker, running, held.
   */
  async queueCounts(): Promise<{
    waiting: number;
    delayed: number;
    placed: number;
    active: number;
    held: number;
  }> {
    const [[ready], [placed], [held]] = await Promise.all([
      this.db.query<{ waiting: number; delayed: number }>(
        `SELECT count(*) FILTER (WHERE dispatched_at <= now())::int AS waiting,
                count(*) FILTER (WHERE dispatched_at > now())::int AS delayed
         FROM jobs WHERE state = 'idle' AND dispatched_at IS NOT NULL AND worker_id IS NULL`,
      ),
      this.db.query<{ placed: number; active: number }>(
        `SELECT count(*) FILTER (WHERE state = 'idle')::int AS placed,
                count(*) FILTER (WHERE state = 'running')::int AS active
         FROM jobs WHERE worker_id IS NOT NULL AND state IN ('idle', 'running')`,
      ),
      this.db.query<{ held: number }>(
        `SELECT count(*)::int AS held FROM jobs WHERE state = 'held'`,
      ),
    ]);
    return {
      waiting: ready?.waiting ?? 0,
      delayed: ready?.delayed ?? 0,
      placed: placed?.placed ?? 0,
      active: placed?.active ?? 0,
      held: held?.held ?? 0,
    };
  }

  /** Every registered worker with what it has, what it uses and what it runs. */
  async workers(): Promise<WorkerView[]> {
    const [rows, jobs] = await Promise.all([
      this.db.query<{
        id: string;
        host: string;
        executor: string;
        cpus: number;
        memory_mb: string;
        gpus: number;
        labels: string[];
        slots: number;
        started_at: Date;
        last_seen: Date;
        alive: boolean;
      }>(
        `SELECT *, last_seen > now() - interval '${WORKER_DEAD_AFTER_S} seconds' AS alive
         FROM workers ORDER BY host, id`,
      ),
      this.db.query<{
        worker_id: string;
        run_id: string;
        name: string;
        idx: number;
        state: string;
        workflow_digest: string;
      }>(
        `SELECT j.worker_id, j.run_id::text, j.name, j.idx, j.state, r.workflow_digest
         FROM jobs j JOIN runs r ON r.id = j.run_id
         WHERE j.worker_id IS NOT NULL AND j.state IN ('idle', 'running')
         ORDER BY j.run_id, j.position, j.idx`,
      ),
    ]);
    const views = new Map<string, WorkerView>();
    for (const w of rows)
      views.set(w.id, {
        id: w.id,
        host: w.host,
        executor: w.executor,
        cpus: w.cpus,
        memory: formatMemory(Number(w.memory_mb)),
        gpus: w.gpus,
        labels: w.labels,
        slots: w.slots,
        cpusInUse: 0,
        memoryInUse: '0M',
        gpusInUse: 0,
        jobs: [],
        startedAt: w.started_at.toISOString(),
        lastSeenAt: w.last_seen.toISOString(),
        alive: w.alive,
      });
    const memory = new Map<string, number>();
    for (const j of jobs) {
      const v = views.get(j.worker_id);
      const def = await jobOf(this.catalog, j.workflow_digest, j.name);
      if (!v || !def) continue;
      const r = jobRequests(def);
      v.cpusInUse += r.cpus;
      v.gpusInUse += r.gpus;
      memory.set(v.id, (memory.get(v.id) ?? 0) + r.memoryMb);
      v.jobs.push({
        runId: Number(j.run_id),
        job: j.name,
        index: j.idx,
        state: j.state === 'running' ? 'running' : 'placed',
      });
    }
    for (const [id, mb] of memory) (views.get(id) as WorkerView).memoryInUse = formatMemory(mb);
    return [...views.values()];
  }
}
