import { invalid, isSafeUploadName, notFound, transitionArchive } from '@wfs/domain';
import type { EventActor, WorkflowDefinition } from '@wfs/domain';
import { changeRun, NewRuns, openRequest, RunRow, submitLocked } from '@wfs/runs';
import type { Tx } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { ingestionUnderway, requestSealed, runNotComplete } from './operation-errors';
import { QaStatus, setQaLocked } from './set-qa';

export interface IngestCommand {
  runId: number;
  qa: QaStatus | null;
  analyst: string;
  comments: string | null;
  /** qa_report.txt, flagtemplate.txt, flagtargetstemplate.txt */
  files: Array<{ name: string; data: Buffer }>;
  actor: string;
  /** The token that asked, for the source run's `qa-set` event. */
  decidedBy?: EventActor | null;
}

/** POST /api/v1/ingestions (CONTRACT 5.7): one ingestion run for many complete runs of one workflow. */
export interface BulkIngestCommand {
  runIds: number[];
  qa: QaStatus | null;
  analyst: string;
  comments: string | null;
  /** The ingestion run's; absent: the source's own when there is one source. */
  correlationId: string | null;
  actor: string;
  /** The token that asked, for the source runs' `qa-set` events. */
  decidedBy?: EventActor | null;
}

/** At most this many runs in one bulk ingestion (CONTRACT 5.7). */
export const MAX_RUNS_PER_INGESTION = 1000;

/**
 * Sets the QA flag (as /qa does; workflows that force QA record pass), then
 * starts the ingestion run, a run of its own (`ingestWith` of the source's
 * definition) linked to the runs it ingests, all in one transaction: one
 * source for a DA's ingest, up to 1,000 of one workflow for a bulk ingestion
 * (the VLASS quick-look images after caching). Each source becomes
 * `ingesting`; the ingestion run's end settles every one of them, each
 * `ingested` event carrying that run's own products (libs/runs job-store.ts,
 * the domain's finishJob).
 */
export class IngestRun {
  constructor(
    private readonly catalog: WorkflowCatalog,
    private readonly newRuns: NewRuns,
    private readonly maxJobsPerRun: number,
  ) {}

  async execute(cmd: IngestCommand): Promise<{ runId: number; ingestionRunId: number }> {
    const { ingestionRunId } = await this.ingest([cmd.runId], { ...cmd, correlationId: null });
    return { runId: cmd.runId, ingestionRunId };
  }

  async executeMany(cmd: BulkIngestCommand): Promise<{ runIds: number[]; ingestionRunId: number }> {
    const ids = cmd.runIds;
    if (ids.length === 0 || ids.length > MAX_RUNS_PER_INGESTION)
      throw invalid(
        'INVALID_REQUEST',
        `runIds must list 1 to ${MAX_RUNS_PER_INGESTION} runs (${ids.length} given).`,
        { fields: { runIds: `must have 1 to ${MAX_RUNS_PER_INGESTION} items` } },
      );
    const twice = ids.find((id, i) => ids.indexOf(id) !== i);
    if (twice !== undefined)
      throw invalid('INVALID_REQUEST', `runIds names run ${twice} twice.`, {
        fields: { runIds: 'must not repeat a run' },
      });
    return this.ingest(ids, { ...cmd, files: [] });
  }

  private async ingest(
    runIds: number[],
    cmd: Omit<BulkIngestCommand, 'runIds'> & { files: IngestCommand['files'] },
  ): Promise<{ runIds: number[]; ingestionRunId: number }> {
    return this.newRuns.transaction(async (tx, made) => {
      const sources = await lockSources(tx, runIds);
      const first = sources[0] as RunRow;
      const other = sources.find((s) => s.workflow !== first.workflow);
      if (other)
        throw invalid(
          'MIXED_WORKFLOWS',
          `One ingestion takes runs of one workflow: run ${first.id} is ${first.workflow}, run ${other.id} is ${other.workflow}.`,
          { fields: { runIds: 'must all be runs of one workflow' } },
        );
      for (const source of sources) await this.checkIngestible(tx, source);
      const sourceDef = await this.catalog.getByDigest(first.workflow_digest);
      const def = this.ingestionOf(first, sourceDef);
      const qa = this.qaOf(first, sourceDef, cmd.qa);
      const allowed = new Set(def.inputs.map((i) => i.name));
      for (const f of cmd.files) {
        if (!isSafeUploadName(f.name) || !allowed.has(f.name)) {
          throw invalid(
            'UNKNOWN_INPUT',
            `${f.name} is not a file ingestion takes (${[...allowed].join(', ')}).`,
            { fields: { [f.name]: 'is not an input of the ingestion' } },
          );
        }
      }
      const flagged: RunRow[] = [];
      for (const source of sources)
        flagged.push(
          await setQaLocked(tx, source, {
            status: qa,
            analyst: cmd.analyst,
            comments: cmd.comments,
            actor: cmd.decidedBy ?? null,
          }),
        );
      const parameters = this.catalog.validateParameters(def, {
        qaFlag: qa,
        analyst: cmd.analyst,
        ...(cmd.comments ? { comments: cmd.comments } : {}),
      });
      // The ingestion of one run is a version of that subject's ingestion request; a bulk one is its own.
      const subject = sources.length === 1 ? first.subject : null;
      const requestId = await openRequest(tx, def.name, subject);
      const ingestion = await this.newRuns.insertRun(
        tx,
        {
          def,
          requestId,
          subject,
          parameters,
          correlationId: cmd.correlationId ?? (sources.length === 1 ? first.correlation_id : null),
          resultsDir: null,
          actor: cmd.actor,
          sourceRunIds: sources.map((s) => Number(s.id)),
          files: cmd.files.map((f) => ({ name: f.name, from: f.data })),
        },
        made,
      );
      await submitLocked(tx, ingestion, def, this.maxJobsPerRun);
      for (const source of flagged)
        await changeRun(
          tx,
          source,
          {
            archive_state: transitionArchive(Number(source.id), source.archive_state, 'ingest'),
            ingestion_run_id: ingestion.id,
          },
          [{ type: 'ingestion-started' }],
        );
      return { runIds: sources.map((s) => Number(s.id)), ingestionRunId: Number(ingestion.id) };
    });
  }

  private async checkIngestible(tx: Tx, source: RunRow): Promise<void> {
    if (source.state !== 'complete') throw runNotComplete(source, 'ingested');
    const [request] = await tx.query<{ sealed: boolean }>(
      'SELECT sealed FROM requests WHERE id = $1 FOR UPDATE',
      [source.request_id],
    );
    if (request?.sealed) throw requestSealed(source);
    if (source.archive_state === 'ingesting' || source.archive_state === 'ingested')
      throw ingestionUnderway(source);
  }

  private ingestionOf(source: RunRow, sourceDef: WorkflowDefinition): WorkflowDefinition {
    if (!sourceDef.ingestWith) {
      throw invalid('NOT_INGESTIBLE', `Runs of ${source.workflow} have no ingestion workflow.`, {
        workflow: source.workflow,
      });
    }
    return this.catalog.get(sourceDef.ingestWith);
  }

  private qaOf(source: RunRow, sourceDef: WorkflowDefinition, asked: QaStatus | null): QaStatus {
    if (sourceDef.ingestQa === 'pass' && asked !== null && asked !== 'pass') {
      // ALMA imaging is archived as pass; one that fails QA is rejected, not archived.
      throw invalid(
        'QA_PASS_ONLY',
        `Runs of ${source.workflow} are ingested with QA pass only; to fail run ${source.id}, reject it: wfs reject ${source.id} --analyst NAME (POST /api/v1/runs/${source.id}/reject).`,
        {
          fields: { qa: `must be pass or left out for ${source.workflow}` },
          workflow: source.workflow,
        },
      );
    }
    const qa: QaStatus | null = sourceDef.ingestQa === 'pass' ? 'pass' : asked;
    if (!qa)
      throw invalid('INVALID_REQUEST', 'qa (pass, fail or null) is required.', {
        fields: { qa: 'is required' },
      });
    return qa;
  }
}

/** The runs to ingest, locked in id order (as every path locks runs), returned in the order asked. */
async function lockSources(tx: Tx, runIds: number[]): Promise<RunRow[]> {
  const rows = await tx.query<RunRow>(
    'SELECT * FROM runs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE',
    [runIds],
  );
  const byId = new Map(rows.map((r) => [Number(r.id), r]));
  return runIds.map((id) => {
    const row = byId.get(id);
    if (!row) throw notFound('run', id);
    return row;
  });
}
