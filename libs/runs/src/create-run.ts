import { createHash } from 'node:crypto';
import { conflict, invalid, planRun, subjectProblem, WorkflowDefinition } from '@wfs/domain';
import { Tx } from '@wfs/persistence';
import { Roots } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { canonicalJson, earlierRun, rememberKey } from './idempotency';
import { NewRun, NewRuns } from './new-run';
import { latestOpenRun, openRequest } from './requests';
import { changeRun, JOBS_INLINE_LIMIT, runView, RunView, snapshotOf } from './run-model';
import { planSubmission, plannedJobRows, writeSubmission } from './submit-run';

export interface CreateRunCommand {
  workflow: string;
  subject?: string | null;
  parameters?: Record<string, unknown>;
  correlationId?: string | null;
  resultsDir?: string | null;
  submit?: boolean;
  /** 0-100 (the definition's `priority` when absent). */
  priority?: number | null;
  actor: string;
  idempotencyKey?: string | null;
  /** Start nothing if the subject already has an open request (automatic triggers: once per subject). */
  onlyIfNoOpenRequest?: boolean;
}

/** Creates a run (and submits it when asked): the user's POST and the ingestion trigger. */
export class CreateRun {
  constructor(
    private readonly newRuns: NewRuns,
    private readonly catalog: WorkflowCatalog,
    private readonly roots: Roots,
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
              cmd.priority ?? null,
            ]),
          )
          .digest('hex')
      : '';

    // Planned (and an oversized plan refused) before anything is written or made on disk.
    const groups = cmd.submit ? planRun(def.jobs, parameters, this.maxJobsPerRun) : null;
    const outcome = await this.newRuns.transaction(async (tx, made) => {
      const repeat = { created: false, view: null };
      if (cmd.idempotencyKey) {
        const earlier = await earlierRun(tx, cmd.actor, cmd.idempotencyKey, requestHash);
        if (earlier !== null) return { runId: earlier, ...repeat };
      }
      if (cmd.onlyIfNoOpenRequest && subject !== null) {
        const existing = await latestOpenRun(tx, def.name, subject);
        if (existing !== null) return { runId: existing, ...repeat };
      }
      // A run without a subject is the first version of a request of its own, made with it.
      const requestId = subject !== null ? await openRequest(tx, def.name, subject) : null;
      if (resultsDir) await this.assertResultsDirFree(tx, resultsDir);
      const spec: NewRun = {
        def,
        requestId,
        subject,
        parameters,
        correlationId: cmd.correlationId ?? null,
        resultsDir,
        actor: cmd.actor,
        sourceRunIds: [],
        priority: cmd.priority ?? null,
        files: [],
      };
      let run = await this.newRuns.insertRow(tx, spec, made);
      let view: RunView;
      if (groups) {
        // Created and submitted in one statement: both events, in order.
        const plan = planSubmission(run, def, this.maxJobsPerRun, new Set(), groups ?? undefined);
        const created = { type: 'created' as const, run: snapshotOf(run) };
        run = await writeSubmission(tx, run, plan, [created]);
        const total = plan.total;
        view = runView(run, plannedJobRows(run, plan, JOBS_INLINE_LIMIT), total, [], def);
      } else {
        run = await changeRun(tx, run, {}, [{ type: 'created' }]);
        view = runView(run, [], 0, [], def);
      }
      const runId = Number(run.id);
      if (cmd.idempotencyKey) {
        await rememberKey(tx, cmd.actor, cmd.idempotencyKey, requestHash, runId);
      }
      return { runId, created: true, view };
    });
    return { runId: outcome.runId, created: outcome.created, view: outcome.view };
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
}
