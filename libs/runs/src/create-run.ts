import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { conflict, invalid, planRun, subjectProblem, WorkflowDefinition } from '@wfs/domain';
import { appendEvents } from '@wfs/events';
import { Database, Tx } from '@wfs/persistence';
import { Dispatcher } from '@wfs/dispatch';
import { entryKind, openRead, removeInside, Roots, storeUpload } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { JOBS_INLINE_LIMIT, RunRow, RunView, runView, snapshotOf, updateRun } from './run-model';
import { planSubmission, plannedJobRows, writeSubmission } from './submit-run';

export interface CreateRunCommand {
  workflow: string;
  subject?: string | null;
  parameters?: Record<string, unknown>;
  correlationId?: string | null;
  resultsDir?: string | null;
  submit?: boolean;
  actor: string;
  idempotencyKey?: string | null;
  /** Start nothing if the subject already has an open request (automatic triggers: once per subject). */
  onlyIfNoOpenRequest?: boolean;
}

const IDEMPOTENCY_WINDOW_HOURS = 24;

export interface NewRun {
  def: WorkflowDefinition;
  /** The request this run is a version of; null: a new request of its own. */
  requestId: number | null;
  subject: string | null;
  parameters: Record<string, unknown>;
  correlationId: string | null;
  resultsDir: string | null;
  actor: string;
  sourceRunId: number | null;
  /** Input files: a path to copy from (another run's input, never through a link), or the bytes. */
  files: Array<{ name: string; from: string | Buffer }>;
}

export class CreateRun {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
    private readonly roots: Roots,
    private readonly dispatcher: Dispatcher,
    private readonly maxJobsPerRun: number,
  ) {}

  /**
   * Returns the run id, whether it was created now (false: an idempotent
   * repeat) and, for a run created now, its view as committed.
   */
  async execute(
    cmd: CreateRunCommand,
  ): Promise<{ runId: number; created: boolean; view: RunView | null }> {
    const def = this.catalog.get(cmd.workflow);
    const subject = this.subjectFor(def, cmd.subject ?? null);
    const parameters = this.catalog.validateParameters(def, cmd.parameters ?? {});
    // An empty string is a resultsDir that is not absolute (400), not an absent one.
    const resultsDir =
      typeof cmd.resultsDir === 'string' ? this.roots.resolveResultsDir(cmd.resultsDir) : null;
    // What an Idempotency-Key is bound to (only computed when one is given).
    const requestHash = cmd.idempotencyKey
      ? createHash('sha256')
          .update(
            canonicalJson([
              cmd.workflow,
              subject,
              cmd.parameters ?? {},
              cmd.correlationId ?? null,
              cmd.resultsDir ?? null,
              cmd.submit ?? false,
            ]),
          )
          .digest('hex')
      : '';

    // Planned (and an oversized plan refused) before anything is written or made on disk.
    const groups = cmd.submit ? planRun(def.jobs, parameters, this.maxJobsPerRun) : null;
    const outcome = await this.transaction(async (tx, made) => {
      const repeat = { created: false, ready: [], view: null };
      if (cmd.idempotencyKey) {
        const earlier = await this.earlierRun(tx, cmd.actor, cmd.idempotencyKey, requestHash);
        if (earlier !== null) return { runId: earlier, ...repeat };
      }
      if (cmd.onlyIfNoOpenRequest && subject !== null) {
        const existing = await this.latestOpenRun(tx, def.name, subject);
        if (existing !== null) return { runId: existing, ...repeat };
      }
      // A run without a subject is the first version of a request of its own, made with it.
      const requestId = subject !== null ? await this.openRequest(tx, def.name, subject) : null;
      if (resultsDir) await this.assertResultsDirFree(tx, resultsDir);
      const spec: NewRun = {
        def,
        requestId,
        subject,
        parameters,
        correlationId: cmd.correlationId ?? null,
        resultsDir,
        actor: cmd.actor,
        sourceRunId: null,
        files: [],
      };
      let run = await this.insertRow(tx, spec, made);
      let view: RunView;
      let ready: Awaited<ReturnType<typeof planSubmission>>['ready'] = [];
      if (groups) {
        // Created and submitted in one statement: both events, in order.
        const plan = planSubmission(run, def, this.maxJobsPerRun, new Set(), groups ?? undefined);
        const created = { type: 'created' as const, run: snapshotOf(run) };
        run = await writeSubmission(tx, run, plan, [created]);
        ready = plan.ready;
        const total = plan.instances.length;
        view = runView(run, plannedJobRows(run, plan, JOBS_INLINE_LIMIT), total, []);
      } else {
        await appendEvents(tx, snapshotOf(run), [{ type: 'created' }]);
        view = runView(run, [], 0, []);
      }
      const runId = Number(run.id);
      if (cmd.idempotencyKey) {
        await tx.query(
          'INSERT INTO idempotency_keys (principal, key, request_hash, run_id) VALUES ($1, $2, $3, $4)',
          [cmd.actor, cmd.idempotencyKey, requestHash, runId],
        );
      }
      return { runId, created: true, ready, view };
    });
    await this.dispatcher.enqueue(outcome.ready);
    return { runId: outcome.runId, created: outcome.created, view: outcome.view };
  }

  /**
   * Inserts a run as the next version of a request, makes its directory, stores
   * its input files, writes its `created` event. For DA operations that build a
   * run inside their own transaction (rerun, ingest).
   */
  async insertRun(tx: Tx, spec: NewRun, made: string[]): Promise<RunRow> {
    const run = await this.insertRow(tx, spec, made);
    await appendEvents(tx, snapshotOf(run), [{ type: 'created' }]);
    return run;
  }

  /**
   * Inserts the run row (and, with no request given, the request it is the
   * first version of) in one statement, makes its directory and stores its
   * input files; no event yet.
   */
  private async insertRow(tx: Tx, spec: NewRun, made: string[]): Promise<RunRow> {
    const { def } = spec;
    // The directory is named for the run's id, which the statement draws: it appends the id.
    const namedPrefix = this.roots.runRootPrefix(def.name);
    const [inserted] = await tx.query<RunRow>(
      `WITH q AS (
         INSERT INTO requests (workflow, subject) SELECT $2, $5 WHERE $1::bigint IS NULL RETURNING id
       ), n AS (
         SELECT nextval(pg_get_serial_sequence('runs', 'id')) AS id,
                coalesce($1::bigint, (SELECT id FROM q)) AS request_id
       )
       INSERT INTO runs (id, request_id, version, workflow, workflow_version, workflow_digest, subject,
                         correlation_id, parameters, state, qa_state, disk_state, results_dir, created_by,
                         source_run_id, processing_dir)
       SELECT n.id, n.request_id,
              (SELECT coalesce(max(version), 0) + 1 FROM runs WHERE request_id = n.request_id),
              $2, $3, $4, $5, $6, $7, 'created', $8, 'processing', $9, $10, $11,
              coalesce($9, $12 || n.id)
       FROM n
       RETURNING *`,
      [
        spec.requestId,
        def.name,
        def.version,
        def.digest,
        spec.subject,
        spec.correlationId,
        spec.parameters,
        def.requiresQa ? 'pending' : 'not_required',
        spec.resultsDir,
        spec.actor,
        spec.sourceRunId,
        namedPrefix,
      ],
    );
    let run = inserted as RunRow;
    const runId = Number(run.id);
    let root = this.roots.runRoot(runId, def.name, spec.resultsDir);
    // A caller's resultsDir may have taken a default name first: never share a directory.
    if (!spec.resultsDir && entryKind(root) !== null) {
      root = `${root}_${randomBytes(3).toString('hex')}`;
      run = await updateRun(tx, runId, { processing_dir: root });
    }
    const { dirs, made: top } = this.roots.create(root);
    if (top !== null) made.push(top);
    for (const file of spec.files) {
      const source = typeof file.from === 'string' ? null : Readable.from([file.from]);
      const copied = typeof file.from === 'string' ? await openFileIn(file.from) : null;
      try {
        const stored = await storeUpload(
          copied ? copied.createReadStream({ autoClose: false }) : (source as Readable),
          dirs.inputs,
          file.name,
          Number.MAX_SAFE_INTEGER,
        );
        await tx.query(
          'INSERT INTO run_files (run_id, name, size, sha256) VALUES ($1, $2, $3, $4)',
          [runId, file.name, stored.size, stored.sha256],
        );
      } finally {
        await copied?.close();
      }
    }
    return run;
  }

  /**
   * A transaction that also undoes on disk what it made: the directories of
   * runs it created are removed if it rolls back, so a refusal leaves nothing.
   */
  async transaction<T>(fn: (tx: Tx, made: string[]) => Promise<T>): Promise<T> {
    const made: string[] = [];
    try {
      return await this.db.transaction((tx) => fn(tx, made));
    } catch (e) {
      for (const dir of made) await removeInside(this.roots.runAreas, dir).catch(() => undefined);
      throw e;
    }
  }

  /** A resultsDir may not be, contain, or lie inside another run's directory (a cleanup would take both). */
  private async assertResultsDirFree(tx: Tx, dir: string): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['wfs/results-dirs']);
    const [taken] = await tx.query<{ id: string; processing_dir: string }>(
      `SELECT id, processing_dir FROM runs
       WHERE processing_dir = $1 OR starts_with(processing_dir, $1 || '/') OR starts_with($1, processing_dir || '/')
       LIMIT 1`,
      [dir],
    );
    if (taken) {
      throw conflict(
        'RESULTS_DIR_IN_USE',
        `resultsDir ${dir} overlaps the directory of run ${taken.id} (${taken.processing_dir}).`,
        {
          fields: { resultsDir: `overlaps run ${taken.id}` },
          runId: Number(taken.id),
        },
      );
    }
  }

  /** Validates a subject for a workflow (400 naming the field). */
  subjectFor(def: WorkflowDefinition, subject: string | null): string | null {
    const problem = subject === null ? null : subjectProblem(subject);
    if (problem) {
      throw invalid(
        'INVALID_SUBJECT',
        `The subject ${problem}: a subject is 1-200 printable characters (e.g. uid://A001/X1284/X2c1).`,
        { fields: { subject: problem } },
      );
    }
    if (subject === null && def.subjectKind !== 'none') {
      throw invalid(
        'SUBJECT_REQUIRED',
        `Workflow ${def.name} needs a subject (${def.subjectKind}).`,
        {
          fields: { subject: `is required (${def.subjectKind})` },
        },
      );
    }
    return subject;
  }

  /** The run an earlier call with this key created, or null; 409 if the key came with another body. */
  private async earlierRun(
    tx: Tx,
    actor: string,
    key: string,
    requestHash: string,
  ): Promise<number | null> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`idempotency/${actor}/${key}`]);
    const [row] = await tx.query<{ request_hash: string; run_id: string; fresh: boolean }>(
      `SELECT request_hash, run_id, created_at > now() - interval '${IDEMPOTENCY_WINDOW_HOURS} hours' AS fresh
       FROM idempotency_keys WHERE principal = $1 AND key = $2`,
      [actor, key],
    );
    if (!row) return null;
    if (!row.fresh) {
      await tx.query('DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2', [
        actor,
        key,
      ]);
      return null;
    }
    if (row.request_hash !== requestHash) {
      throw conflict(
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was used with a different request body.',
        { runId: Number(row.run_id) },
      );
    }
    return Number(row.run_id);
  }

  /**
   * The latest run of the subject's open request, or null when there is none.
   * Takes a transaction-scoped lock on the subject first, so two deliveries of
   * the same trigger cannot both find nothing and both start a run.
   */
  private async latestOpenRun(tx: Tx, workflow: string, subject: string): Promise<number | null> {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      `request/${workflow}/${subject}`,
    ]);
    const [row] = await tx.query<{ id: string }>(
      `SELECT r.id FROM requests q JOIN runs r ON r.request_id = q.id
       WHERE q.workflow = $1 AND q.subject = $2 AND NOT q.sealed ORDER BY r.version DESC LIMIT 1`,
      [workflow, subject],
    );
    return row ? Number(row.id) : null;
  }

  /** The open request for this subject (runs add versions to it), or a new one. */
  async openRequest(tx: Tx, workflow: string, subject: string | null): Promise<number> {
    if (subject !== null) {
      await tx.query(
        `INSERT INTO requests (workflow, subject) VALUES ($1, $2)
         ON CONFLICT (workflow, subject) WHERE subject IS NOT NULL AND NOT sealed DO NOTHING`,
        [workflow, subject],
      );
      const [open] = await tx.query<{ id: string }>(
        'SELECT id FROM requests WHERE workflow = $1 AND subject = $2 AND NOT sealed FOR UPDATE',
        [workflow, subject],
      );
      if (open) return Number(open.id);
    }
    const [created] = await tx.query<{ id: string }>(
      'INSERT INTO requests (workflow, subject) VALUES ($1, $2) RETURNING id',
      [workflow, subject],
    );
    return Number((created as { id: string }).id);
  }
}

/** Another run's stored input, opened without following links (a link planted there is refused). */
async function openFileIn(file: string) {
  const handle = await openRead(path.dirname(file), path.basename(file));
  if (!handle) throw conflict('INPUTS_GONE', `${file} is gone.`, { path: file });
  return handle;
}

/** JSON with every object's keys in sorted order: one text for one value, however its keys came. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}
