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

/** Follows a running batch attempt adopted from a dead submit host to its end (ExecuteJob.reattach). */
export type Reattach = (key: JobKey, clusterJobId: string | null) => Promise<void>;

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
 *   longer gives it (it was cut off long enough to be declared dead) -> killed
 *   (a batch executor's are let go instead: another submit host follows them);
 * - batch attempts (Slurm, HTCondor) of a dead submit host -> adopted by a
 *   live one of the same executor, which re-attaches by the recorded batch id
 *   and never submits them again (they are never "lost" as a local one is);
 * - a worker of this host whose process is gone (killed and restarted) is
 *   dead at once, not after the heartbeat timeout.
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
    private readonly reattach: Reattach | null = null,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    // A restarted submit host takes its predecessor's batch attempts back at once.
    await this.markDeadPredecessors().catch(() => undefined);
    await this.adoptBatchAttempts().catch((e: unknown) =>
      this.log.warn(`recovery: ${(e as Error).message}; will try again`),
    );
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
      await this.markDeadPredecessors();
      await this.stopTakenOver();
      await this.recoverLostJobs();
      await this.adoptBatchAttempts();
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
       WHERE j.state = 'running' AND j.worker_id IS NOT NULL AND j.executor IS NULL
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

  /**
   * Workers of this host whose process is gone (killed, then started again
   * with a new id) are dead now: their jobs need not wait out the heartbeat
   * timeout. Only this host's pids can be asked about.
   */
  private async markDeadPredecessors(): Promise<void> {
    const rows = await this.db.query<{ id: string; pid: number }>(
      `SELECT id, pid FROM workers
       WHERE host = $1 AND id <> $2 AND last_seen > now() - interval '${WORKER_DEAD_AFTER_S} seconds'`,
      [this.host, this.lifecycle.workerId],
    );
    const dead = rows.filter((r) => !processAlive(r.pid)).map((r) => r.id);
    if (dead.length === 0) return;
    await this.db.query(
      `UPDATE workers SET last_seen = now() - interval '${WORKER_DEAD_AFTER_S + 1} seconds' WHERE id = ANY($1)`,
      [dead],
    );
    this.log.warn(`recovery: worker(s) ${dead.join(', ')} of this host are gone (no process)`);
  }

  /**
   * A batch executor's worker takes over the running attempts of dead submit
   * hosts of its kind (SKIP LOCKED: two adopters never take the same one) and
   * follows each to its end by the batch id recorded with it.
   */
  private async adoptBatchAttempts(): Promise<void> {
    const reattach = this.reattach;
    if (this.executor.kind === 'local' || !reattach) return;
    const adopted = await this.db.query<{
      run_id: string;
      name: string;
      idx: number;
      attempts: number;
      cluster_job_id: string | null;
      was: string | null;
    }>(
      `WITH orphan AS (
         SELECT j.run_id, j.name, j.idx, j.worker_id FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id
         WHERE j.state = 'running' AND j.executor = $1
           AND (w.id IS NULL OR w.last_seen < now() - interval '${WORKER_DEAD_AFTER_S} seconds')
         ORDER BY j.run_id, j.name, j.idx LIMIT 1000
         FOR UPDATE OF j SKIP LOCKED
       )
       UPDATE jobs j SET worker_id = $2, host = $3 FROM orphan o
       WHERE j.run_id = o.run_id AND j.name = o.name AND j.idx = o.idx
       RETURNING j.run_id, j.name, j.idx, j.attempts, j.cluster_job_id, o.worker_id AS was`,
      [this.executor.kind, this.lifecycle.workerId, this.host],
    );
    for (const a of adopted) {
      const key: JobKey = {
        runId: Number(a.run_id),
        name: a.name,
        index: a.idx,
        attempt: a.attempts,
      };
      this.log.warn(
        `recovery: run ${key.runId} job ${key.name}[${key.index}] attempt ${key.attempt}: ` +
          `${this.executor.kind} job ${a.cluster_job_id ?? '(id not recorded)'} adopted from worker ${a.was ?? '?'}`,
      );
      void reattach(key, a.cluster_job_id).catch((e: unknown) =>
        this.log.warn(
          `recovery: run ${key.runId} job ${key.name}[${key.index}]: ${(e as Error).message}`,
        ),
      );
    }
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
    // A batch executor lets go of its batch jobs: the cluster runs them on for the submit host that
    // adopted them. What is left (in-process steps) is stopped.
    const letGo = this.executor.letGo?.(keys) ?? 0;
    if (letGo > 0)
      this.log.warn(`recovery: let go of ${letGo} batch attempt(s) another worker adopted`);
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

/** Whether a process of this host is alive (EPERM: it is, but not ours). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* gone already */
  }
}
