import { JOB_NAME } from '@wfs/domain';
import type { JobKey, Reopen, StopLive } from '@wfs/domain';
import { notifyPayload, outboxInsert, outboxNotify, outboxParams, OutboxRow } from '@wfs/events';
import type { Tx } from '@wfs/persistence';
import { JobRow, RunRow, sourcesOf } from './run-model';

/**
 * The job store's statements: the lock and the reads of a batch (one round
 * trip with its BEGIN), the write of everything it changed (one statement),
 * and the set-based stop of a run's remaining live instances.
 */

/** A runs row with the counter of its event sequence. */
export type LoadedRun = RunRow & { last_sequence: number };
export type LoadedJob = JobRow & { worker_id: string | null; uncounted_attempts: number };

export interface GroupRow {
  run_id: string;
  name: string;
  needs: string[];
  completed: number;
  instances: number;
  released: boolean;
  /** Its `when` did not hold. */
  skipped?: boolean;
  /** An unscattered job's result (what later `when`s read). */
  result?: unknown;
  /** False while a dynamic scatter waits for its list. */
  planned?: boolean;
}

/** Which runs and rows a batch reads. */
export interface StoreScope {
  /** The instances the transitions name (their runs are locked). */
  keys: readonly Pick<JobKey, 'runId' | 'name' | 'index'>[];
  /** Runs whose job groups are needed (finishes). */
  groupsOf?: readonly number[];
  /** Runs whose running instances are needed (a cancel stops each). */
  runningOf?: readonly number[];
}

export interface LoadedRows {
  runs: LoadedRun[];
  jobs: LoadedJob[];
  groups: GroupRow[];
  running: LoadedJob[];
}

/** What changed, to be written back. */
export interface RowsToWrite {
  jobs: Array<{ job: LoadedJob; started: boolean; finished: boolean; retryMs: number | null }>;
  groups: GroupRow[];
  runs: Array<{
    run: LoadedRun;
    started: boolean;
    finished: boolean;
    resumed?: boolean;
    touched: boolean;
  }>;
  outbox: OutboxRow[];
  release: Array<{ runId: number; name: string }>;
  sealed: string[];
  /** `<run>,<job>,<index>,<attempt>` of running attempts the workers stop (STOP_CHANNEL). */
  stopAttempts?: string[];
  /** Tell the scheduler (SCHEDULE_CHANNEL): a slot freed, an instance ready or released. */
  reschedule?: boolean;
}

/** The Postgres channel told (on commit) which run was cancelled or failed: workers kill its processes. */
export const CANCEL_CHANNEL = 'wfs_cancel';
/** The channel that wakes the scheduler: something may start now. */
export const SCHEDULE_CHANNEL = 'wfs_schedule';
/** The channel naming one running attempt (`<run>,<job>,<index>,<attempt>`) its worker stops. */
export const STOP_CHANNEL = 'wfs_stop';

const ints = (xs: readonly number[]) => `'{${xs.join(',')}}'`;
const validId = (id: number) => Number.isSafeInteger(id) && id > 0;

/**
 * Locks the scope's runs (in id order, so two batches never deadlock; the
 * source runs of ingestion runs after them) and reads the rows the
 * transitions need.
 */
export async function lockAndRead(tx: Tx, scope: StoreScope): Promise<LoadedRows> {
  // One round trip for the lock and the reads: statements without parameters go out together
  // (and with the transaction's BEGIN), so every value is put in the text, and only values
  // checked here can be: integers, and job names as definitions allow them (JOB_NAME: letters,
  // digits, `_` and the `.` of expanded sub-workflows, never `"` or `\`), double-quoted in
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
                  'completed', completed, 'instances', instances, 'released', released,
                  'skipped', skipped, 'result', result, 'planned', planned)), '[]') AS groups
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
  const out: LoadedRows = { runs: [...runs], jobs: [], groups: [], running: [] };
  for (const { groups, ...j } of rows) {
    if (j.run_id !== null) out.jobs.push(j as LoadedJob);
    out.groups.push(...(groups ?? []));
  }
  const locked = new Set(runs.map((r) => Number(r.id)));
  // The runs ingestion runs ingest: locked after them (always in that order), as they settle.
  const sources = [...new Set(runs.flatMap((r) => sourcesOf(r)))]
    .filter((id) => !locked.has(id))
    .sort((a, b) => a - b);
  if (sources.length > 0) {
    for (const r of await tx.query<LoadedRun>(
      'SELECT * FROM runs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE',
      [sources],
    ))
      out.runs.push(r);
  }
  const stopping = (scope.runningOf ?? []).filter((id) => locked.has(id));
  if (stopping.length > 0) {
    for (const j of await tx.query<LoadedJob>(
      `SELECT * FROM jobs WHERE run_id = ANY($1::bigint[]) AND state = 'running' ORDER BY run_id, position, idx`,
      [stopping],
    ))
      out.running.push(j);
  }
  return out;
}

/**
 * Writes a batch's changes in one statement; returns how many instances
 * became ready (the scheduler reads which from Postgres: a released group of
 * 500,000 instances is not sent back here).
 */
export async function writeRows(tx: Tx, w: RowsToWrite): Promise<number> {
  const { jobs, groups, runs } = w;
  const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
  // One statement: its parts touch different rows (the release takes idle instances of groups
  // released in this batch, none of which this batch claimed), so none undoes another.
  const [out] = await tx.query<{
    jobs: string;
    groups: string;
    runs: string;
    events: string;
    sealed: string;
  }>(
    `WITH j AS (
         UPDATE jobs j SET state = x.state, attempts = x.attempts, host = x.host, worker_id = x.worker_id,
                result = x.result, round = x.round,
                exit_code = x.exit_code, status_reason = x.status_reason,
                pid = CASE WHEN x.started THEN NULL ELSE j.pid END,
                executor = CASE WHEN x.started THEN x.executor ELSE j.executor END,
                cluster_job_id = CASE WHEN x.started THEN NULL ELSE j.cluster_job_id END, uncounted_attempts = x.uncounted,
                assigned_at = CASE WHEN x.worker_id IS NULL THEN NULL ELSE j.assigned_at END,
                dispatched_at = CASE WHEN x.retry_ms IS NOT NULL THEN now() + x.retry_ms * interval '1 millisecond'
                                     WHEN x.started THEN coalesce(j.dispatched_at, now()) ELSE j.dispatched_at END,
                started_at = CASE WHEN x.started THEN now() ELSE j.started_at END,
                finished_at = CASE WHEN x.finished THEN now() WHEN x.started THEN NULL ELSE j.finished_at END
         FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[],
                     $8::int[], $9::text[], $10::bool[], $11::bool[], $12::int[], $35::int[], $38::text[],
                     $43::jsonb[], $45::int[], $48::int[])
              AS x(run_id, name, idx, state, attempts, host, worker_id, exit_code, status_reason, started,
                   finished, retry_ms, uncounted, executor, result, round, position)
         -- The position too: whichever of jobs_pkey (run_id, name, idx) and jobs_run_order
         -- (run_id, position, idx) the planner takes, every column is bound. With only run_id and
         -- idx, jobs_run_order reads every entry of the run (no skip scan) for each row: the
         -- plan a stale picture of the table chose, slower with every instance of the run.
         WHERE j.run_id = x.run_id AND j.name = x.name AND j.idx = x.idx AND j.position = x.position
         RETURNING 1
       ), g AS (
         UPDATE job_groups g SET completed = x.completed, released = x.released, skipped = x.skipped,
                result = x.result, instances = x.instances, planned = x.planned
         FROM unnest($13::bigint[], $14::text[], $15::int[], $16::bool[], $41::bool[], $42::jsonb[],
                     $46::int[], $47::bool[])
              AS x(run_id, name, completed, released, skipped, result, instances, planned)
         WHERE g.run_id = x.run_id AND g.name = x.name
         RETURNING 1
       ), r AS (
         UPDATE runs r SET state = x.state, qa_state = x.qa_state, archive_state = x.archive_state,
                disk_state = x.disk_state, processing_dir = x.processing_dir, error = x.error,
                products = x.products, last_sequence = x.last_sequence,
                started_at = CASE WHEN x.started THEN now() ELSE r.started_at END,
                finished_at = CASE WHEN x.finished THEN now() WHEN x.resumed THEN NULL ELSE r.finished_at END,
                updated_at = CASE WHEN x.touched THEN now() ELSE r.updated_at END,
                resumed_count = x.resumed_count, parameters = coalesce(x.parameters, r.parameters)
         FROM unnest($17::bigint[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[],
                     $23::jsonb[], $24::jsonb[], $25::int[], $26::bool[], $27::bool[], $28::bool[],
                     $39::bool[], $40::int[], $44::jsonb[])
              AS x(id, state, qa_state, archive_state, disk_state, processing_dir, error, products,
                   last_sequence, started, finished, touched, resumed, resumed_count, parameters)
         WHERE r.id = x.id
         RETURNING 1
       ), e AS (${outboxInsert(29)}
       ), s AS (
         UPDATE requests SET sealed = true WHERE id = ANY($34::bigint[]) RETURNING 1
       )
       SELECT (SELECT count(*) FROM j) AS jobs, (SELECT count(*) FROM g) AS groups,
              (SELECT count(*) FROM r) AS runs, (SELECT count(*) FROM e) AS events,
              (SELECT count(*) FROM s) AS sealed,
              ${outboxNotify(33)} AS notified,
              CASE WHEN $36 THEN pg_notify('${SCHEDULE_CHANNEL}', '') END AS scheduled,
              (SELECT count(pg_notify('${STOP_CHANNEL}', a)) FROM unnest($37::text[]) a) AS stopped`,
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
      ...outboxParams(w.outbox),
      notifyPayload(w.outbox),
      w.sealed,
      jobs.map((x) => x.job.uncounted_attempts ?? 0),
      w.reschedule ?? false,
      w.stopAttempts ?? [],
      jobs.map((x) => x.job.executor ?? null),
      runs.map((x) => x.resumed ?? false),
      runs.map((x) => x.run.resumed_count ?? 0),
      groups.map((g) => g.skipped ?? false),
      groups.map((g) => json(g.result)),
      jobs.map((x) => json(x.job.result)),
      runs.map((x) => json(x.run.parameters)),
      jobs.map((x) => x.job.round ?? 1),
      groups.map((g) => g.instances),
      groups.map((g) => g.planned !== false),
      jobs.map((x) => x.job.position),
    ],
  );
  const expected = [jobs.length, groups.length, runs.length, w.outbox.length];
  const got = [out?.jobs, out?.groups, out?.runs, out?.events].map(Number);
  if (expected.some((n, i) => n !== got[i]))
    throw new Error(
      `job store wrote ${got.join('/')} of ${expected.join('/')} jobs/groups/runs/events`,
    );
  // Released groups' idle instances become ready: a statement of their own, only when a group
  // is released (a few times a run), never a part of every batch's statement: its plan, cached
  // on the connection while `jobs` was small, read the whole table every batch (an outer
  // sequential scan of 100,000 rows, 15 times a second) even with nothing to release.
  let ready = 0;
  for (const r of w.release) {
    const rows = await tx.query<{ n: number }>(
      `WITH rel AS (
         UPDATE jobs SET dispatched_at = now()
         WHERE run_id = $1 AND name = $2 AND state = 'idle'
         RETURNING 1
       )
       SELECT count(*)::int AS n FROM rel`,
      [r.runId, r.name],
    );
    ready += Number(rows[0]?.n ?? 0);
  }
  return ready;
}

/**
 * A run that failed or was cancelled stops its other live instances,
 * set-based (a scatter may have thousands), after its rows are written;
 * workers are told to kill its processes.
 */
/**
 * A resumed run's instances that did not complete go back to idle, set-based:
 * ready at once where their group was released (the scheduler is told), else
 * waiting for their needs as at submit. Attempt counters go on.
 */
export async function reopenStopped(tx: Tx, runId: number, reopen: Reopen): Promise<void> {
  await tx.query(
    `UPDATE jobs j SET state = CASE WHEN j.name = ANY($3::text[]) AND g.released THEN 'waiting' ELSE 'idle' END,
            worker_id = NULL, assigned_at = NULL, pid = NULL,
            executor = NULL, cluster_job_id = NULL, exit_code = NULL, status_reason = NULL,
            finished_at = NULL, dispatched_at = CASE WHEN g.released THEN now() ELSE NULL END
     FROM job_groups g
     WHERE g.run_id = j.run_id AND g.name = j.name AND j.run_id = $1
       AND (j.state IN ('failed', 'removed') OR (j.state = 'skipped' AND j.status_reason = ANY($2::text[])))`,
    [runId, reopen.skippedBecause, reopen.gates ?? []],
  );
  await tx.query(`SELECT pg_notify('${SCHEDULE_CHANNEL}', '')`);
}

/**
 * A dynamic scatter planned now: its instances are written, ready at once
 * (its group was released with it), at the run's priority.
 */
/**
 * Summary groups (`events: summary`) whose counts changed: `due` marks a
 * group-progress as owed (libs/runs group-progress.ts sends it within a
 * second); `false` clears it, the group's last one having been written now.
 */
export async function markProgress(tx: Tx, groups: Array<[string, boolean]>): Promise<void> {
  const keys = groups.map(([k]) => k.split(','));
  await tx.query(
    `UPDATE job_groups g SET progress_due = x.due,
            progress_at = CASE WHEN x.due THEN g.progress_at ELSE now() END
     FROM unnest($1::bigint[], $2::text[], $3::boolean[]) AS x(run_id, name, due)
     WHERE g.run_id = x.run_id AND g.name = x.name`,
    [keys.map((k) => k[0]), keys.map((k) => k.slice(1).join(',')), groups.map(([, due]) => due)],
  );
}

export async function planGroup(
  tx: Tx,
  runId: number,
  plan: { name: string; items: ReadonlyArray<Record<string, string | number>> },
): Promise<void> {
  if (plan.items.length === 0) return;
  await tx.query(
    `INSERT INTO jobs (run_id, name, idx, position, item, dispatched_at, priority, state)
     SELECT $1, $2, x.n - 1, g.position, x.item, now(), r.priority, 'idle'
     FROM unnest($3::jsonb[]) WITH ORDINALITY AS x(item, n)
     JOIN job_groups g ON g.run_id = $1 AND g.name = $2
     JOIN runs r ON r.id = $1`,
    [runId, plan.name, plan.items.map((i) => JSON.stringify(i))],
  );
  await tx.query(`SELECT pg_notify('${SCHEDULE_CHANNEL}', '')`);
}

/** A group whose `when` did not hold: its idle instances are skipped (they never ran). */
export async function skipGroup(
  tx: Tx,
  runId: number,
  skip: { name: string; reason: string },
): Promise<void> {
  await tx.query(
    `UPDATE jobs SET state = 'skipped', status_reason = $3 WHERE run_id = $1 AND name = $2 AND state = 'idle'`,
    [runId, skip.name, skip.reason],
  );
}

export async function stopLive(tx: Tx, runId: number, stop: StopLive): Promise<void> {
  await tx.query(
    `UPDATE jobs SET state = CASE WHEN state = 'running' THEN 'removed' ELSE $2 END, status_reason = $3,
            finished_at = CASE WHEN state = 'running' THEN now() WHEN $5 THEN NULL ELSE finished_at END
     WHERE run_id = $1 AND state = ANY($4::text[])`,
    [runId, stop.idle, stop.reason, stop.states, stop.clearFinish],
  );
  await tx.query(
    `SELECT pg_notify('${CANCEL_CHANNEL}', $1), pg_notify('${SCHEDULE_CHANNEL}', '')`,
    [String(runId)],
  );
}
