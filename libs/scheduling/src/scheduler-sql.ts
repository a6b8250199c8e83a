import { WORKER_DEAD_AFTER_S } from '@wfs/domain';
import type { Database, Tx } from '@wfs/persistence';

/**
 * The scheduler's statements: what it reads to decide (in one round trip,
 * under its transaction lock), the placement it writes (skipping rows another
 * transaction holds, so it never waits on a run's transition and never
 * deadlocks with one), and why groups wait.
 */

export interface WorkerRow {
  id: string;
  executor: string;
  cpus: number;
  memory_mb: number;
  gpus: number;
  labels: string[];
  slots: number;
  queue: string;
}

/** Instances placed (idle, reserved) or running, counted per worker and job. */
export interface PlacedRow {
  worker_id: string;
  workflow: string;
  workflow_digest: string;
  name: string;
  n: number;
}

export interface CandidateRow {
  run_id: string;
  name: string;
  workflow: string;
  workflow_digest: string;
  priority: number;
  idx: number[];
  attempt: number[];
}

export interface SchedulingRows {
  workers: WorkerRow[];
  placed: PlacedRow[];
  limits: Array<{ name: string; max: number }>;
  paused: string[];
  candidates: CandidateRow[];
}

const LIVE_WORKER = `last_seen > now() - interval '${WORKER_DEAD_AFTER_S} seconds'`;

/**
 * Serializes scheduling passes over all processes (a failover can briefly
 * leave two leaders). A pass whose process is cut off mid-way would hold the
 * lock until TCP gives up: Postgres ends a pass silent for 5 s instead.
 */
const PASS_LOCK = `SET LOCAL idle_in_transaction_session_timeout = '5s';
  SELECT pg_advisory_xact_lock(hashtext('wfs-scheduler-pass'))`;

/** Everything a pass decides from; `perGroup` bounds the candidates read per job group. */
export async function readSchedulingState(tx: Tx, perGroup: number): Promise<SchedulingRows> {
  const k = Math.max(1, Math.min(5000, Math.floor(perGroup)));
  const results = await tx.script(`${PASS_LOCK};
    SELECT id, executor, cpus, memory_mb::float8 AS memory_mb, gpus, labels, slots, queue
      FROM workers WHERE ${LIVE_WORKER} ORDER BY id;
    SELECT j.worker_id, r.workflow, r.workflow_digest, j.name, count(*)::int AS n
      FROM jobs j JOIN runs r ON r.id = j.run_id
      WHERE j.worker_id IS NOT NULL AND j.state IN ('idle', 'running')
      GROUP BY 1, 2, 3, 4;
    SELECT name, max FROM concurrency_limits;
    SELECT workflow FROM workflow_pauses;
    SELECT g.run_id::text, g.name, r.workflow, r.workflow_digest, r.priority,
           array_agg(c.idx ORDER BY c.idx) AS idx, array_agg(c.attempts + 1 ORDER BY c.idx) AS attempt
      FROM runs r
      JOIN job_groups g ON g.run_id = r.id AND g.released AND g.completed < g.instances
      CROSS JOIN LATERAL (
        SELECT j.idx, j.attempts FROM jobs j
        WHERE j.run_id = g.run_id AND j.position = g.position AND j.state = 'idle'
          AND j.dispatched_at IS NOT NULL AND j.worker_id IS NULL AND j.dispatched_at <= now()
        ORDER BY j.idx LIMIT ${k}
      ) c
      WHERE r.state IN ('submitted', 'running')
      GROUP BY g.run_id, g.name, r.workflow, r.workflow_digest, r.priority`);
  const [workers, placed, limits, paused, candidates] = results.slice(-5) as unknown as [
    WorkerRow[],
    PlacedRow[],
    Array<{ name: string; max: number }>,
    Array<{ workflow: string }>,
    CandidateRow[],
  ];
  return { workers, placed, limits, paused: paused.map((p) => p.workflow), candidates };
}

/** Places instances still idle, ready and unplaced; returns those it placed. */
export async function writePlacements(
  tx: Tx,
  p: ReadonlyArray<{
    runId: number;
    name: string;
    index: number;
    attempt: number;
    workerId: string;
  }>,
): Promise<
  Array<{ run_id: string; name: string; idx: number; attempt: number; worker_id: string }>
> {
  if (p.length === 0) return [];
  return tx.query(
    `WITH c AS (
       SELECT j.run_id, j.name, j.idx, x.worker_id, x.attempt
       FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::text[]) AS x(run_id, name, idx, attempt, worker_id)
       JOIN jobs j ON j.run_id = x.run_id AND j.name = x.name AND j.idx = x.idx
       WHERE j.state = 'idle' AND j.worker_id IS NULL AND j.dispatched_at IS NOT NULL
         AND j.attempts + 1 = x.attempt
       FOR UPDATE OF j SKIP LOCKED
     )
     UPDATE jobs j SET worker_id = c.worker_id, assigned_at = now()
     FROM c WHERE j.run_id = c.run_id AND j.name = c.name AND j.idx = c.idx
     RETURNING j.run_id::text, j.name, j.idx, c.attempt, c.worker_id`,
    [
      p.map((x) => x.runId),
      p.map((x) => x.name),
      p.map((x) => x.index),
      p.map((x) => x.attempt),
      p.map((x) => x.workerId),
    ],
  );
}

/** Records why groups wait (advisory: rows a transition holds are skipped, written next pass). */
export async function writeWaiting(
  db: Database,
  w: ReadonlyArray<{ runId: number; name: string; waitingFor: string | null }>,
): Promise<void> {
  if (w.length === 0) return;
  await db.query(
    `WITH c AS (
       SELECT g.run_id, g.name, x.w
       FROM unnest($1::bigint[], $2::text[], $3::text[]) AS x(run_id, name, w)
       JOIN job_groups g ON g.run_id = x.run_id AND g.name = x.name
       WHERE g.waiting_for IS DISTINCT FROM x.w
       FOR UPDATE OF g SKIP LOCKED
     )
     UPDATE job_groups g SET waiting_for = c.w FROM c WHERE g.run_id = c.run_id AND g.name = c.name`,
    [w.map((x) => x.runId), w.map((x) => x.name), w.map((x) => x.waitingFor)],
  );
}

/** Instances the scheduler held for want of a worker (to release when one that fits is live). */
export async function heldForWorkers(
  db: Database,
): Promise<Array<{ run_id: string; name: string; idx: number; workflow_digest: string }>> {
  return db.query(
    `SELECT j.run_id::text, j.name, j.idx, r.workflow_digest
     FROM jobs j JOIN runs r ON r.id = j.run_id
     WHERE j.state = 'held' AND j.status_reason LIKE 'no_matching_worker:%'
       AND r.state IN ('submitted', 'running')
     LIMIT 1000`,
  );
}
