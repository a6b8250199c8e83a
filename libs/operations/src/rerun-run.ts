import * as path from 'node:path';
import {
  conflict,
  fileSafeSubject,
  invalid,
  isSafeUploadName,
  render,
  reusedJobs,
  TemplateContext,
  WorkflowDefinition,
} from '@wfs/domain';
import type { Tx } from '@wfs/persistence';
import { lockRun, NewRuns, Reuse, RunRow, submitLocked } from '@wfs/runs';
import {
  containedIn,
  entryKind,
  isPlainFile,
  linkOrCopyIn,
  plainDir,
  Roots,
  runDirs,
} from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { requestSealed, ingestionUnderway } from './operation-errors';

export interface RerunCommand {
  runId: number;
  /** New files by name (PPR.xml, flagtemplate.txt, flux.csv, ...): they replace the old ones of that name. */
  files: Array<{ name: string; data: Buffer }>;
  /** Merged over the old run's parameters. */
  parameters?: Record<string, unknown>;
  submit: boolean;
  actor: string;
  /**
   * Re-run from this job: the jobs it transitively needs are not run again,
   * their declared outputs are taken (hard-linked) from the old run.
   */
  fromJob?: string | null;
}

/**
 * A new version of the run's request, same recipe, with the old files except
 * those replaced. The old run, its files and its directory are never touched
 * (the old system overwrote the PPR on re-run).
 */
export class RerunRun {
  constructor(
    private readonly catalog: WorkflowCatalog,
    private readonly newRuns: NewRuns,
    private readonly maxJobsPerRun: number,
    private readonly roots: Roots,
  ) {}

  async execute(cmd: RerunCommand): Promise<number> {
    const outcome = await this.newRuns.transaction(async (tx, made) => {
      const old = await lockRun(tx, cmd.runId);
      const [request] = await tx.query<{ sealed: boolean }>(
        'SELECT sealed FROM requests WHERE id = $1 FOR UPDATE',
        [old.request_id],
      );
      if (request?.sealed) throw requestSealed(old);
      const [busy] = await tx.query<{ id: string }>(
        `SELECT id FROM runs WHERE request_id = $1 AND archive_state IN ('ingesting', 'ingested') LIMIT 1`,
        [old.request_id],
      );
      if (busy) throw ingestionUnderway(await lockRun(tx, Number(busy.id)));
      // The recipe users know by name, at its current version.
      const def = this.catalog.get(old.workflow);
      const allowed = new Set(def.inputs.map((i) => i.name));
      for (const f of cmd.files) {
        if (!isSafeUploadName(f.name) || !allowed.has(f.name)) {
          throw invalid(
            'UNKNOWN_INPUT',
            `${f.name} is not an input of ${def.name} (${[...allowed].join(', ')}).`,
            { fields: { [f.name]: 'is not an input of this workflow' } },
          );
        }
      }
      const parameters = this.catalog.validateParameters(def, {
        ...old.parameters,
        ...(cmd.parameters ?? {}),
      });
      const reused = cmd.fromJob ? reusedJobs(def.jobs, cmd.fromJob, def.name) : [];
      if (cmd.fromJob && !cmd.submit) {
        throw invalid(
          'FROM_JOB_NEEDS_SUBMIT',
          'A re-run from a job is submitted at once (its reused jobs are settled when it is planned): drop submit=false.',
          { fields: { submit: 'must be true with fromJob' } },
        );
      }
      if (reused.length > 0) await this.assertReusable(tx, old, reused);
      const replaced = new Set(cmd.files.map((f) => f.name));
      const carried = await tx.query<{ name: string }>(
        'SELECT name FROM run_files WHERE run_id = $1 ORDER BY name',
        [old.id],
      );
      const oldInputs = runDirs(old.processing_dir as string).inputs;
      const gone = carried
        .filter((f) => !replaced.has(f.name) && !isPlainFile(path.join(oldInputs, f.name)))
        .map((f) => f.name);
      if (gone.length > 0) {
        throw conflict(
          'INPUTS_GONE',
          `The files ${gone.join(', ')} of run ${old.id} went with its directory; give them again to re-run.`,
          {
            state: old.state,
            diskState: old.disk_state,
            missing: gone,
          },
        );
      }
      const run = await this.newRuns.insertRun(
        tx,
        {
          def,
          requestId: Number(old.request_id),
          subject: old.subject,
          parameters,
          correlationId: old.correlation_id,
          resultsDir: null,
          actor: cmd.actor,
          sourceRunIds: [],
          files: [
            ...carried
              .filter((f) => !replaced.has(f.name))
              .map((f) => ({ name: f.name, from: path.join(oldInputs, f.name) })),
            ...cmd.files.map((f) => ({ name: f.name, from: f.data })),
          ],
        },
        made,
      );
      let reuse: Reuse | null = null;
      if (reused.length > 0) {
        await this.linkOutputs(tx, old, run, def, reused);
        reuse = { fromRunId: Number(old.id), jobs: reused };
      }
      if (cmd.submit) await submitLocked(tx, run, def, this.maxJobsPerRun, reuse);
      return { runId: Number(run.id) };
    });
    return outcome.runId;
  }

  /**
   * 409 INPUTS_GONE unless the old run's directory is there and every
   * instance of the reused jobs completed in it (or was itself reused there).
   */
  private async assertReusable(tx: Tx, old: RunRow, reused: string[]): Promise<void> {
    const dir = old.processing_dir;
    const within = dir
      ? [...this.roots.managed, ...this.roots.results].find((r) => containedIn([r], dir))
      : undefined;
    const present =
      !!dir &&
      !['removed', 'expired'].includes(old.disk_state) &&
      !!within &&
      entryKind(dir) === 'dir' &&
      plainDir(dir, within, 'null') !== null;
    if (!present) {
      throw conflict(
        'INPUTS_GONE',
        `The directory of run ${old.id} is gone (${old.disk_state}): nothing of it can be reused; re-run without fromJob.`,
        { state: old.state, diskState: old.disk_state, missing: [dir] },
      );
    }
    const rows = await tx.query<{
      name: string;
      idx: number;
      state: string;
      status_reason: string | null;
    }>(
      'SELECT name, idx, state, status_reason FROM jobs WHERE run_id = $1 AND name = ANY($2::text[]) ORDER BY position, idx',
      [old.id, reused],
    );
    const done = (r: (typeof rows)[number]) =>
      r.state === 'completed' ||
      (r.state === 'skipped' && /^reused from run \d+$/.test(r.status_reason ?? ''));
    const notDone = [
      ...reused.filter((n) => !rows.some((r) => r.name === n)),
      ...rows.filter((r) => !done(r)).map((r) => `${r.name}[${r.idx}] (${r.state})`),
    ];
    if (notDone.length > 0) {
      throw conflict(
        'INPUTS_GONE',
        `Run ${old.id} has no completed ${notDone.join(', ')}: re-run from an earlier job, or without fromJob.`,
        { state: old.state, diskState: old.disk_state, notCompleted: notDone },
      );
    }
  }

  /**
   * Hard-links (copies across filesystems) each reused instance's declared
   * outputs from the old run's directory into the new one's, at the same
   * places; the old directory is only read. 409 INPUTS_GONE naming an output
   * that is not there; UNSAFE_PATH for one that is or holds a link.
   */
  private async linkOutputs(
    tx: Tx,
    old: RunRow,
    run: RunRow,
    def: WorkflowDefinition,
    reused: string[],
  ): Promise<void> {
    const instances = await tx.query<{
      name: string;
      idx: number;
      item: Record<string, string | number> | null;
    }>(
      'SELECT name, idx, item FROM jobs WHERE run_id = $1 AND name = ANY($2::text[]) ORDER BY position, idx',
      [old.id, reused],
    );
    const contextOf = (
      r: RunRow,
      item: Record<string, string | number> | null,
      index: number,
    ): TemplateContext => ({
      runId: Number(r.id),
      version: r.version,
      workflow: r.workflow,
      subject: r.subject ?? '',
      fileSafeSubject: r.subject === null ? '' : fileSafeSubject(r.subject),
      parameters: r.parameters,
      dirs: runDirs(r.processing_dir as string),
      item: item ?? {},
      index,
    });
    const roots = [...this.roots.managed, ...this.roots.results];
    const missing: string[] = [];
    const pairs: Array<[string, string]> = [];
    for (const i of instances) {
      const job = def.jobs.find((j) => j.name === i.name);
      for (const output of job?.outputs ?? []) {
        const from = path.resolve(
          old.processing_dir as string,
          render(output, contextOf(old, i.item, i.idx)),
        );
        const to = path.resolve(
          run.processing_dir as string,
          render(output, contextOf(run, i.item, i.idx)),
        );
        // A scatter's instances may declare the same output: it is put once.
        if (pairs.some(([, t]) => t === to)) continue;
        if (entryKind(from) === null)
          missing.push(path.relative(old.processing_dir as string, from));
        else pairs.push([from, to]);
      }
    }
    if (missing.length > 0) {
      throw conflict(
        'INPUTS_GONE',
        `The outputs ${missing.join(', ')} of run ${old.id} are gone: re-run from an earlier job, or without fromJob.`,
        { state: old.state, diskState: old.disk_state, missing },
      );
    }
    for (const [from, to] of pairs) await linkOrCopyIn(from, to, roots);
  }
}
