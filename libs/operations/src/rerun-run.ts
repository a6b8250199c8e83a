import * as path from 'node:path';
import { conflict, invalid, isSafeUploadName } from '@wfs/domain';
import { lockRun, NewRuns, submitLocked } from '@wfs/runs';
import { isPlainFile, runDirs } from '@wfs/storage';
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
          sourceRunId: null,
          files: [
            ...carried
              .filter((f) => !replaced.has(f.name))
              .map((f) => ({ name: f.name, from: path.join(oldInputs, f.name) })),
            ...cmd.files.map((f) => ({ name: f.name, from: f.data })),
          ],
        },
        made,
      );
      if (cmd.submit) await submitLocked(tx, run, def, this.maxJobsPerRun);
      return { runId: Number(run.id) };
    });
    return outcome.runId;
  }
}
