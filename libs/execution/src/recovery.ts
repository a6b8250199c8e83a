import { JobKey, WORKER_DEAD_AFTER_S } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { Dispatcher } from '@wfs/dispatch';
import { JobLifecycle } from '@wfs/runs';
import { Executor } from './executor';
import { killOrphansOf } from './orphans';

interface Log {
  log(m: string): void;
  warn(m: string): void;
}

/** A queued job whose message has been missing from Redis this long is sent again. */
const QUEUED_GRACE_S = 5;

/**
 * Repairs what Redis and dead workers can lose, from Postgres, the record:
 * - heartbeat: this worker's row in `workers`, refreshed every few seconds;
 * - lost jobs: running on a worker that stopped beating -> tried again elsewhere
 *   (its processes are killed first when it ran on this host: the recorded
 *   process group, and any process whose environment names the dead worker);
 * - lost messages: queued in Postgres but absent from Redis -> sent again, under
 *   the same BullMQ job id, so a message that does exist is never doubled;
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
    private readonly intervalMs = 5000,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.running ??= this.tick().finally(() => (this.running = null));
    }, this.intervalMs);
  }

  private async beat(): Promise<void> {
    await this.db.query(
      `INSERT INTO workers (id, host, pid) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET last_seen = now()`,
      [this.lifecycle.workerId, this.host, process.pid],
    );
  }

  async tick(): Promise<void> {
    try {
      await this.beat();
      await this.stopTakenOver();
      await this.recoverLostJobs();
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
       WHERE j.state = 'running' AND (w.id IS NULL OR w.last_seen < now() - interval '${WORKER_DEAD_AFTER_S} seconds')
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
    if (lost.length > 0) {
      await this.db.query(`DELETE FROM workers WHERE last_seen < now() - interval '1 hour'`);
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
    const queued = await this.db.query<{
      run_id: string;
      name: string;
      idx: number;
      attempts: number;
    }>(
      `SELECT run_id, name, idx, attempts FROM jobs
       WHERE state = 'idle' AND dispatched_at IS NOT NULL AND dispatched_at < now() - interval '${QUEUED_GRACE_S} seconds'
       ORDER BY dispatched_at LIMIT 5000`,
    );
    const keys = queued.map((q) => ({
      runId: Number(q.run_id),
      name: q.name,
      index: q.idx,
      attempt: q.attempts + 1,
    }));
    const missing = await this.dispatcher.missing(keys);
    if (missing.length === 0) return;
    await this.dispatcher.enqueue(missing);
    this.log.warn(`recovery: sent ${missing.length} queued job(s) again that Redis had lost`);
  }

  /** Stops beating and removes this worker's row (its jobs are finished by then). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.db
      .query('DELETE FROM workers WHERE id = $1', [this.lifecycle.workerId])
      .catch(() => undefined);
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* gone already */
  }
}
