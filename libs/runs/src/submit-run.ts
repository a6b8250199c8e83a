import {
  groupStarts,
  invalid,
  JobState,
  planRun,
  PlannedGroup,
  transitionRun,
  WorkflowDefinition,
} from '@wfs/domain';
import {
  notifyPayload,
  numberEvents,
  outboxInsert,
  outboxNotify,
  outboxParams,
  PendingEvent,
} from '@wfs/events';
import type { Tx } from '@wfs/persistence';
import { SCHEDULE_CHANNEL } from './job-store-sql';
import { JobRow, RunRow, snapshotOf } from './run-model';

/** A run's whole job plan, ready to be written. */
export interface Submission {
  groups: Array<
    PlannedGroup & {
      completed: number;
      released: boolean;
      /** Its instances' first state: idle, or skipped (reused from the source run of a re-run from a later job). */
      state: JobState;
      statusReason: string | null;
    }
  >;
  /** Instances in all (the groups' items, or one each). */
  total: number;
}

/** One job row of a plan, as written. */
export interface PlannedInstance {
  name: string;
  index: number;
  position: number;
  item: string | null;
  released: boolean;
  state: JobState;
  statusReason: string | null;
}

/** Job rows written per statement: a million-instance plan never makes one statement of a million rows. */
export const INSTANCE_PAGE = 10_000;
/** A plan at least this big has `jobs` analyzed with it (a bulk load: the statistics would say small). */
export const ANALYZE_AFTER = 10_000;

/**
 * A plan's instances in plan order (position, index), `size` at a time: the
 * rows of one page exist only while it is written.
 */
export function* instancePages(
  plan: Submission,
  size = INSTANCE_PAGE,
): Generator<PlannedInstance[]> {
  let page: PlannedInstance[] = [];
  for (const g of plan.groups) {
    // A reused instance is done, not ready: nothing dispatches it.
    const released = g.released && g.state === 'idle';
    const count = g.items?.length ?? 1;
    for (let index = 0; index < count; index++) {
      const item = g.items?.at(index);
      page.push({
        name: g.name,
        index,
        position: g.position,
        item: item ? JSON.stringify(item) : null,
        released,
        state: g.state,
        statusReason: g.statusReason,
      });
      if (page.length >= size) {
        yield page;
        page = [];
      }
    }
  }
  if (page.length > 0) yield page;
}

/** A re-run from a later job: the jobs whose outputs come from the source run instead of running. */
export interface Reuse {
  fromRunId: number;
  jobs: readonly string[];
}

/**
 * Checks a `created` run can be submitted (its required files are there) and
 * plans its jobs: one row per instance, the roots released at once.
 */
export function planSubmission(
  run: RunRow,
  def: WorkflowDefinition,
  maxJobsPerRun: number,
  files: ReadonlySet<string>,
  /** The plan, when the caller has made it already. */
  planned?: PlannedGroup[],
  reuse: Reuse | null = null,
): Submission {
  const runId = Number(run.id);
  transitionRun(runId, run.state, 'submit');
  const missing = def.inputs.filter((i) => i.required && !files.has(i.name)).map((i) => i.name);
  if (missing.length > 0) {
    throw invalid(
      'MISSING_INPUT',
      `Run ${runId} needs the file(s) ${missing.join(', ')} before it can be submitted.`,
      {
        fields: Object.fromEntries(missing.map((m) => [m, 'is required'])),
      },
    );
  }
  const plannedGroups = planned ?? planRun(def.jobs, run.parameters, maxJobsPerRun);
  const starts = groupStarts(runId, plannedGroups, reuse);
  const groups: Submission['groups'] = [];
  let total = 0;
  for (const g of plannedGroups) {
    const start = starts.get(g.name) as NonNullable<ReturnType<typeof starts.get>>;
    groups.push({
      ...g,
      completed: start.completed,
      released: start.released,
      state: start.state,
      statusReason: start.statusReason,
    });
    total += g.items?.length ?? 1;
  }
  return { groups, total };
}

/**
 * Writes a planned submission of a locked run: its job groups, its new state
 * and its events (`earlier` first, e.g. the `created` of a run made in the
 * same transaction, then `submitted`) in one statement, then its instances
 * in pages of INSTANCE_PAGE rows, all in the caller's transaction. Returns
 * the submitted run.
 */
export async function writeSubmission(
  tx: Tx,
  run: RunRow,
  plan: Submission,
  earlier: PendingEvent[] = [],
): Promise<RunRow> {
  const runId = Number(run.id);
  const state = transitionRun(runId, run.state, 'submit');
  const submitted: RunRow = { ...run, state };
  const events: PendingEvent[] = [...earlier, { type: 'submitted' }];
  const { groups } = plan;
  // Numbered from 1 here; the statement adds the run's counter as it was.
  const rows = numberEvents(snapshotOf(submitted), 0, events);
  const [row] = await tx.query<{ written: string; updated_at: Date }>(
    `WITH g AS (
       INSERT INTO job_groups (run_id, name, position, needs, instances, released, completed, planned)
       SELECT $1, n, p, ARRAY(SELECT jsonb_array_elements_text(d)), i, r, c, pl
       FROM unnest($2::text[], $3::int[], $4::jsonb[], $5::int[], $6::bool[], $14::int[], $15::bool[])
            AS x(n, p, d, i, r, c, pl)
       RETURNING 1
     ), seq AS (
       UPDATE runs SET state = $7, updated_at = now(), last_sequence = last_sequence + $8
       WHERE id = $1
       RETURNING last_sequence - $8 AS base, updated_at
     ), e AS (${outboxInsert(9, '(SELECT base FROM seq)')})
     SELECT (SELECT count(*) FROM e) AS written, (SELECT updated_at FROM seq) AS updated_at,
            ${outboxNotify(13)}, pg_notify('${SCHEDULE_CHANNEL}', '')`,
    [
      runId,
      groups.map((g) => g.name),
      groups.map((g) => g.position),
      groups.map((g) => JSON.stringify(g.needs)),
      groups.map((g) => g.items?.length ?? 1),
      groups.map((g) => g.released),
      state,
      events.length,
      ...outboxParams(rows),
      notifyPayload(rows),
      groups.map((g) => g.completed),
      groups.map((g) => !g.dynamic),
    ],
  );
  if (Number(row?.written) !== events.length)
    throw new Error(`run ${runId} vanished while it was being submitted`);
  // The instances, a page a statement (the commit wakes the scheduler, told above).
  for (const page of instancePages(plan)) {
    await tx.query(
      `INSERT INTO jobs (run_id, name, idx, position, item, dispatched_at, priority, state, status_reason)
       SELECT $1, n, i, p, it, CASE WHEN r THEN now() END, (SELECT priority FROM runs WHERE id = $1), s, sr
       FROM unnest($2::text[], $3::int[], $4::int[], $5::jsonb[], $6::bool[], $7::text[], $8::text[])
            AS x(n, i, p, it, r, s, sr)`,
      [
        runId,
        page.map((i) => i.name),
        page.map((i) => i.index),
        page.map((i) => i.position),
        page.map((i) => i.item),
        page.map((i) => i.released),
        page.map((i) => i.state),
        page.map((i) => i.statusReason),
      ],
    );
  }
  // The planner's picture of `jobs` is kept true after a bulk load: plans made while it looked
  // small (cached on every connection) read big scatters by the wrong index, or whole, until an
  // analyze. In this transaction (it counts its own rows), before the scheduler reads them.
  if (plan.total >= ANALYZE_AFTER) await tx.query('ANALYZE jobs');
  return { ...submitted, updated_at: row?.updated_at as Date };
}

/** The first instances of a plan as the job rows just written (for the response to a submit). */
export function plannedJobRows(run: RunRow, plan: Submission, limit: number): JobRow[] {
  const first = instancePages(plan, limit).next();
  return (first.done ? [] : first.value).map((i) => ({
    run_id: run.id,
    name: i.name,
    idx: i.index,
    position: i.position,
    item: i.item ? (JSON.parse(i.item) as Record<string, string | number>) : null,
    state: i.state,
    attempts: 0,
    exit_code: null,
    status_reason: i.statusReason,
    host: null,
    pid: null,
    dispatched_at: i.released ? new Date() : null,
    started_at: null,
    finished_at: null,
  }));
}

/**
 * Submits a locked `created` run: checks its required files, writes its whole
 * job plan (one row per instance, in bulk) and releases the root jobs.
 * Returns the new row; the commit wakes the scheduler, which places the ready instances.
 */
export async function submitLocked(
  tx: Tx,
  run: RunRow,
  def: WorkflowDefinition,
  maxJobsPerRun: number,
  /** A re-run from a later job: what its source run's jobs give it (their outputs are in place). */
  reuse: Reuse | null = null,
): Promise<RunRow> {
  transitionRun(Number(run.id), run.state, 'submit');
  const files = await tx.query<{ name: string }>('SELECT name FROM run_files WHERE run_id = $1', [
    run.id,
  ]);
  const plan = planSubmission(
    run,
    def,
    maxJobsPerRun,
    new Set(files.map((f) => f.name)),
    undefined,
    reuse,
  );
  return writeSubmission(tx, run, plan);
}
