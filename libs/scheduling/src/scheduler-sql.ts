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

/** A run read in its turn and one of its ready groups (name and arrays null: nothing to start now). */
export interface CandidateRow {
  run_id: string;
  name: string | null;
  position: number | null;
  workflow: string | null;
  workflow_digest: string | null;
  priority: number;
  idx: number[] | null;
  attempt: number[] | null;
}

export interface SchedulingRows {
  workers: WorkerRow[];
  placed: PlacedRow[];
  limits: Array<{ name: string; max: number }>;
  paused: string[];
  /** The priorities ready instances have, highest first. */
  levels: number[];
}

const LIVE_WORKER = `last_seen > now() - interval '${WORKER_DEAD_AFTER_S} seconds'`;

/** Ready and not placed: the predicate of the `jobs_ready` index (priority DESC, run_id, position, idx). */
const READY = `state = 'idle' AND dispatched_at IS NOT NULL AND worker_id IS NULL`;
/** A live run: the predicate of the `runs_active` index (priority DESC, id). */
const ACTIVE = `state IN ('submitted', 'running')`;

/**
 * Serializes scheduling passes over all processes (a failover can briefly
 * leave two leaders). A pass whose process is cut off mid-way would hold the
 * lock until TCP gives up: Postgres ends a pass silent for 5 s instead.
 * The pass reads partial indexes whose rows leave them all the time
 * (`jobs_placed`, `jobs_ready`: an instance placed, then running, then done):
 * plain index scans, not bitmap scans, mark the entries of rows gone as dead
 * on the way (kill_prior_tuple), so the next pass does not read them again.
 * A bitmap scan would read every entry left since the last vacuum, each pass:
 * 10,000 in a 5,000-instance scatter, growing with it. Joins are nested loops
 * over primary keys, whatever the statistics say (a table that just grew by a
 * scatter's plan looks small: a hash join then reads every ready row to place
 * eighteen). A pass's commit does not wait for the disk: a placement lost in a
 * crash was never claimable (a claim checks it), and the next pass makes it
 * again.
 */
const PASS_LOCK = `SET LOCAL idle_in_transaction_session_timeout = '5s';
  SET LOCAL enable_bitmapscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;
  SET LOCAL synchronous_commit = off;
  SELECT pg_advisory_xact_lock(hashtext('wfs-scheduler-pass'))`;

/**
 * What a pass decides from, in one round trip under the pass lock: the live
 * workers, what is placed or running on each, the limits, the paused
 * workflows, and the distinct priorities of the live runs (one probe each of
 * `runs_active`).
 */
export async function readSchedulingState(tx: Tx): Promise<SchedulingRows> {
  const results = await tx.script(`${PASS_LOCK};
    SELECT id, executor, cpus, memory_mb::float8 AS memory_mb, gpus, labels, slots, queue
      FROM workers WHERE ${LIVE_WORKER} ORDER BY id;
    SELECT j.worker_id, r.workflow, r.workflow_digest, j.name, count(*)::int AS n
      FROM jobs j JOIN runs r ON r.id = j.run_id
      WHERE j.worker_id IS NOT NULL AND j.state IN ('idle', 'running')
      GROUP BY 1, 2, 3, 4;
    SELECT name, max FROM concurrency_limits;
    SELECT workflow FROM workflow_pauses;
    WITH RECURSIVE p(priority) AS (
      (SELECT priority FROM runs WHERE ${ACTIVE} ORDER BY priority DESC LIMIT 1)
      UNION ALL
      SELECT (SELECT r.priority FROM runs r WHERE ${ACTIVE.replace('state', 'r.state')}
                AND r.priority < p.priority ORDER BY r.priority DESC LIMIT 1)
      FROM p WHERE p.priority IS NOT NULL
    )
    SELECT priority FROM p WHERE priority IS NOT NULL LIMIT 101`);
  const [workers, placed, limits, paused, levels] = results.slice(-5) as unknown as [
    WorkerRow[],
    PlacedRow[],
    Array<{ name: string; max: number }>,
    Array<{ workflow: string }>,
    Array<{ priority: number }>,
  ];
  return {
    workers,
    placed,
    limits,
    paused: paused.map((p) => p.workflow),
    levels: levels.map((l) => l.priority),
  };
}

const int = (n: number) => {
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${n}`);
  return String(n);
};

/**
 * The next live runs at each priority level, taking turns: from just after
 * the run read last at that level (`after`), wrapping round, at most
 * `perLevel` runs a level (walking `runs_active`, so a run with 100,000 ready
 * instances costs no more than one with one); then, for each
 * open group, its first `perGroup` ready instances in plan order after the
 * group's cursor (`from`: the last instance placed, so a big scatter's placed
 * and finished instances, dead entries at the front of `jobs_ready` until a
 * vacuum, are not read again every pass).
 */
export async function readCandidates(
  tx: Tx,
  levels: ReadonlyArray<{ priority: number; after: number }>,
  perLevel: number,
  perGroup: number,
  from: ReadonlyArray<{ runId: number; position: number; after: number }>,
): Promise<CandidateRow[]> {
  if (levels.length === 0) return [];
  const J = READY.replace(/(state|dispatched_at|worker_id)/g, 'j.$1');
  const window = (p: string, cond: string) =>
    `SELECT r.id AS run_id FROM runs r WHERE ${ACTIVE.replace('state', 'r.state')} AND r.priority = ${p}
       AND ${cond} ORDER BY r.priority DESC, r.id LIMIT ${int(perLevel)}`;
  const parts = levels.flatMap(({ priority, after }, i) => {
    const p = int(priority);
    return [
      `(SELECT ${i} AS lvl, 0 AS part, run_id, ${p}::smallint AS priority
        FROM (${window(p, `r.id > ${int(after)}`)}) a)`,
      `(SELECT ${i}, 1, run_id, ${p}::smallint FROM (${window(p, `r.id <= ${int(after)}`)}) b)`,
    ];
  });
  return tx.query<CandidateRow>(
    `WITH chosen AS (${parts.join(' UNION ALL ')}),
     cursors AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[]) AS k(run_id, position, after))
     SELECT c.run_id::text, g.name, g.position, r.workflow, r.workflow_digest, c.priority,
            array_agg(x.idx ORDER BY x.idx) FILTER (WHERE x.idx IS NOT NULL) AS idx,
            array_agg(x.attempts + 1 ORDER BY x.idx) FILTER (WHERE x.idx IS NOT NULL) AS attempt
     FROM chosen c
     LEFT JOIN runs r ON r.id = c.run_id
     LEFT JOIN job_groups g ON g.run_id = r.id AND g.released AND g.completed < g.instances
     LEFT JOIN cursors k ON k.run_id = g.run_id AND k.position = g.position
     LEFT JOIN LATERAL (
       SELECT j.idx, j.attempts FROM jobs j
       WHERE j.priority = c.priority AND j.run_id = g.run_id AND j.position = g.position AND ${J}
         AND j.idx > coalesce(k.after, -1) AND j.dispatched_at <= now()
       ORDER BY j.idx LIMIT ${int(perGroup)}
     ) x ON true
     GROUP BY c.lvl, c.part, c.run_id, g.position, g.name, r.workflow, r.workflow_digest, c.priority
     ORDER BY c.lvl, c.part, c.run_id, g.position`,
    [from.map((f) => f.runId), from.map((f) => f.position), from.map((f) => f.after)],
  );
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
  // Each row found by its primary key (the ready index would look tiny to the planner and be
  // read whole), locked unless a transition holds it, then checked still ready.
  return tx.query(
    `WITH c AS (
       SELECT j.run_id, j.name, j.idx, x.worker_id, x.attempt, j.state, j.worker_id AS placed,
              j.dispatched_at, j.attempts
       FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::text[]) AS x(run_id, name, idx, attempt, worker_id)
       CROSS JOIN LATERAL (
         SELECT * FROM jobs j WHERE j.run_id = x.run_id AND j.name = x.name AND j.idx = x.idx
         FOR UPDATE SKIP LOCKED
       ) j
     )
     UPDATE jobs j SET worker_id = c.worker_id, assigned_at = now()
     FROM c
     WHERE j.run_id = c.run_id AND j.name = c.name AND j.idx = c.idx
       AND c.state = 'idle' AND c.placed IS NULL AND c.dispatched_at IS NOT NULL AND c.attempts + 1 = c.attempt
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
