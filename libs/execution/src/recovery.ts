import { JobKey, WORKER_DEAD_AFTER_S, WorkerCapacity } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { Dispatcher } from '@wfs/dispatch';
import { JobLifecycle, SCHEDULE_CHANNEL } from '@wfs/runs';
import { Executor } from './executor';
import { killOrphansOf } from './orphans';

interface Log {
  log(m: string): void;
  warn(m: string): void;
}

/** What this worker offers the scheduler (its row in `workers`), and its own BullMQ queue. */
export type WorkerSlot = Omit<WorkerCapacity, 'id' | 'prefetch'> & { queue: string };

/** A placed job whose message has been missing from Redis this long is sent again. */
const QUEUED_GRACE_S = 5;

/**
 * Repairs what Redis and dead workers can lose, from Postgres, the record:
 * - heartbeat: this worker's row in `workers` (with what it offers the
 *   scheduler), refreshed every few seconds;
 * - lost jobs: running on a worker that stopped beating -> tried again elsewhere
 *   (its processes are killed first when it ran on this host: the recorded
 *   process group, and any process whose environment names the dead worker);
 *   placed on it but not started -> back to the scheduler, its queue dropped;
 * - lost messages: placed in Postgres but absent from the worker's queue ->
 *   sent again, under the same BullMQ job id, so a message that does exist is
 *   never doubled.
 * - taken-over attempts: this worker's processes whose attempts Postgres no
 *   longer gives it (it was cut off long enough to be declared dead) -> killed.
 * Every worker runs it; every step is idempotent, so they need no leader.
 */
export class Recovery {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly lifecycle: JobLifecycle,
    private readonly dispatcher: Dispatcher,
    private readonly executor: Executor,
    private readonly host: string,
    private readonly log: Log,
    private readonly slot: WorkerSlot,
    private readonly intervalMs = 5000,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.running ??= this.tick().finally(() => (this.running = null));
    }, this.intervalMs);
  }

  private async beat(): Promise<void> {
    const s = this.slot;
    // A worker that registers (or comes back) may fit what waits: the scheduler is told.
    await this.db.query(
      `WITH w AS (
         INSERT INTO workers (id, host, pid, executor, cpus, memory_mb, gpus, labels, slots, queue)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET last_seen = now()
         RETURNING (xmax = 0) AS inserted, last_seen
       )
       SELECT CASE WHEN inserted THEN pg_notify('${SCHEDULE_CHANNEL}', '') END FROM w`,
      [
        this.lifecycle.workerId,
        this.host,
        process.pid,
        s.executor,
        s.cpus,
        s.memoryMb,
        s.gpus,
        [...s.labels],
        s.slots,
        s.queue,
      ],
    );
  }

  async tick(): Promise<void> {
    try {
      await this.beat();
      await this.stopTakenOver();
      await this.recoverLostJobs();
      await this.unplaceFromDeadWorkers();
      await this.redispatchMissing();
    } catch (e) {
      this.log.warn(`recovery: ${(e as Error).message}; will try again`);
    }
  }

  private async recoverLostJobs(): Promise<void> {
    const lost = await this.db.query<{
      run_id: string;
      name: string;
      idx: number;
      attempts: number;
      host: string | null;
      pid: number | null;
      worker_id: string | null;
    }>(
      `SELECT j.run_id, j.name, j.idx, j.attempts, j.host, j.pid, j.worker_id
       FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id
       WHERE j.state = 'running' AND j.worker_id IS NOT NULL
         AND (w.id IS NULL OR w.last_seen < now() - interval '${WORKER_DEAD_AFTER_S} seconds')
       LIMIT 1000`,
    );
    const orphansStopped = new Set<string>();
    for (const j of lost) {
      if (j.host === this.host) {
        if (j.pid) killGroup(j.pid);
        // A process spawned just before the worker died may not have its pid recorded.
        if (j.worker_id && !orphansStopped.has(j.worker_id)) {
          orphansStopped.add(j.worker_id);
          const pids = killOrphansOf(j.worker_id);
          if (pids.length > 0)
            this.log.warn(
              `recovery: stopped ${pids.length} process(es) left by worker ${j.worker_id}`,
            );
        }
      }
      const key: JobKey = {
        runId: Number(j.run_id),
        name: j.name,
        index: j.idx,
        attempt: j.attempts,
      };
      await this.lifecycle.lose(key, `worker ${j.worker_id ?? '?'} stopped answering`);
      this.log.warn(
        `recovery: run ${key.runId} job ${key.name}[${key.index}] attempt ${key.attempt} lost with worker ${j.worker_id ?? '?'}`,
      );
    }
    // Workers silent for an hour are forgotten, with their queues (anything left there was placed
    // again long ago).
    const gone = await this.db.query<{ queue: string }>(
      `DELETE FROM workers WHERE last_seen < now() - interval '1 hour' RETURNING queue`,
    );
    for (const g of gone) await this.dispatcher.drop(g.queue).catch(() => undefined);
  }

  /** Instances placed on a worker that stopped beating go back to the scheduler; its queue is dropped. */
  private async unplaceFromDeadWorkers(): Promise<void> {
    const rows = await this.db.query<{ queue: string; n: number }>(
      `WITH dead AS (
         SELECT id, queue FROM workers WHERE last_seen < now() - interval '${WORKER_DEAD_AFTER_S} seconds'
       ), u AS (
         UPDATE jobs j SET worker_id = NULL, assigned_at = NULL
         FROM dead WHERE j.worker_id = dead.id AND j.state = 'idle'
         RETURNING dead.queue
       )
       SELECT queue, count(*)::int AS n, pg_notify('${SCHEDULE_CHANNEL}', '') FROM u GROUP BY queue`,
    );
    for (const r of rows) {
      this.log.warn(
        `recovery: ${r.n} placed job(s) of dead worker queue ${r.queue} go back to the scheduler`,
      );
      await this.dispatcher.drop(r.queue).catch(() => undefined);
    }
  }

  /**
   * A worker cut off from Postgres for longer than WORKER_DEAD_AFTER_S had its
   * running attempts taken over (tried again elsewhere), but its processes went
   * on: no one could reach them. Back in touch, it kills those that are no
   * longer its own running attempt, so they do not run beside their retries.
   * Their finishes are stale and change nothing (isRunningAttempt).
   */
  private async stopTakenOver(): Promise<void> {
    const mine = this.executor.attempts();
    if (mine.length === 0) return;
    const taken = await this.db.query<{
      run_id: string;
      name: string;
      idx: number;
      attempt: number;
    }>(
      `SELECT k.run_id, k.name, k.idx, k.attempt
       FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[]) AS k(run_id, name, idx, attempt)
       WHERE NOT EXISTS (
         SELECT 1 FROM jobs j
         WHERE j.run_id = k.run_id AND j.name = k.name AND j.idx = k.idx
           AND j.attempts = k.attempt AND j.state = 'running' AND j.worker_id = $5)`,
      [
        mine.map((k) => k.runId),
        mine.map((k) => k.name),
        mine.map((k) => k.index),
        mine.map((k) => k.attempt),
        this.lifecycle.workerId,
      ],
    );
    if (taken.length === 0) return;
    const keys: JobKey[] = taken.map((t) => ({
      runId: Number(t.run_id),
      name: t.name,
      index: t.idx,
      attempt: t.attempt,
    }));
    // Those that ended meanwhile (finished, or cancelled and being stopped) are not counted.
    const stopped = this.executor.stopAttempts(keys);
    if (stopped === 0) return;
    this.log.warn(
      `recovery: stopped ${stopped} process(es) whose attempts are no longer this worker's: ` +
        keys.map((k) => `run ${k.runId} job ${k.name}[${k.index}] attempt ${k.attempt}`).join(', '),
    );
  }

  private async redispatchMissing(): Promise<void> {
    const placed = await this.db.query<{
      run_id: string;
      name: string;
      idx: number;
      attempts: number;
      queue: string;
    }>(
      `SELECT j.run_id, j.name, j.idx, j.attempts, w.queue FROM jobs j JOIN workers w ON w.id = j.worker_id
       WHERE j.state = 'idle' AND j.worker_id IS NOT NULL
         AND j.assigned_at < now() - interval '${QUEUED_GRACE_S} seconds'
         AND w.last_seen > now() - interval '${WORKER_DEAD_AFTER_S} seconds'
       ORDER BY j.assigned_at LIMIT 5000`,
    );
    const byQueue = new Map<string, JobKey[]>();
    for (const q of placed) {
      const list = byQueue.get(q.queue) ?? [];
      list.push({ runId: Number(q.run_id), name: q.name, index: q.idx, attempt: q.attempts + 1 });
      byQueue.set(q.queue, list);
    }
    for (const [queue, keys] of byQueue) {
      const missing = await this.dispatcher.missing(queue, keys);
      if (missing.length === 0) continue;
      await this.dispatcher.send(queue, missing);
      this.log.warn(`recovery: sent ${missing.length} placed job(s) again that Redis had lost`);
    }
  }

  /**
   * Stops beating and removes this worker's row (its jobs are finished by
   * then): what was placed on it and not started goes back to the scheduler.
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.db
      .query(
        `WITH u AS (UPDATE jobs SET worker_id = NULL, assigned_at = NULL WHERE worker_id = $1 AND state = 'idle' RETURNING 1),
              d AS (DELETE FROM workers WHERE id = $1 RETURNING 1)
         SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM d), pg_notify('${SCHEDULE_CHANNEL}', '')`,
        [this.lifecycle.workerId],
      )
      .catch(() => undefined);
    await this.dispatcher.drop(this.slot.queue).catch(() => undefined);
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* gone already */
  }
}
