import { EventActor, invalid, isSafeUploadName, transitionArchive } from '@wfs/domain';
import { changeRun, lockRun, NewRuns, openRequest, submitLocked } from '@wfs/runs';
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

/**
 * Sets the QA flag (as /qa does; workflows that force QA record pass), then
 * starts the ingestion run, a run of its own (`ingestWith` of the source's
 * definition) linked to the source run, all in one transaction. The source
 * becomes `ingesting`; the ingestion run's end settles it (see libs/runs
 * job-store.ts, the domain's finishJob).
 */
export class IngestRun {
  constructor(
    private readonly catalog: WorkflowCatalog,
    private readonly newRuns: NewRuns,
    private readonly maxJobsPerRun: number,
  ) {}

  async execute(cmd: IngestCommand): Promise<{ runId: number; ingestionRunId: number }> {
    const outcome = await this.newRuns.transaction(async (tx, made) => {
      const source = await lockRun(tx, cmd.runId);
      if (source.state !== 'complete') throw runNotComplete(source, 'ingested');
      const [request] = await tx.query<{ sealed: boolean }>(
        'SELECT sealed FROM requests WHERE id = $1 FOR UPDATE',
        [source.request_id],
      );
      if (request?.sealed) throw requestSealed(source);
      if (source.archive_state === 'ingesting' || source.archive_state === 'ingested')
        throw ingestionUnderway(source);
      const sourceDef = await this.catalog.getByDigest(source.workflow_digest);
      if (!sourceDef.ingestWith) {
        throw invalid('NOT_INGESTIBLE', `Runs of ${source.workflow} have no ingestion workflow.`, {
          workflow: source.workflow,
        });
      }
      const def = this.catalog.get(sourceDef.ingestWith);
      if (sourceDef.ingestQa === 'pass' && cmd.qa !== null && cmd.qa !== 'pass') {
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
      const qa: QaStatus | null = sourceDef.ingestQa === 'pass' ? 'pass' : cmd.qa;
      if (!qa)
        throw invalid('INVALID_REQUEST', 'qa (pass, fail or null) is required.', {
          fields: { qa: 'is required' },
        });
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
      const flagged = await setQaLocked(tx, source, {
        status: qa,
        analyst: cmd.analyst,
        comments: cmd.comments,
        actor: cmd.decidedBy ?? null,
      });
      const parameters = this.catalog.validateParameters(def, {
        qaFlag: qa,
        analyst: cmd.analyst,
        ...(cmd.comments ? { comments: cmd.comments } : {}),
      });
      const requestId = await openRequest(tx, def.name, source.subject);
      const ingestion = await this.newRuns.insertRun(
        tx,
        {
          def,
          requestId,
          subject: source.subject,
          parameters,
          correlationId: source.correlation_id,
          resultsDir: null,
          actor: cmd.actor,
          sourceRunId: Number(source.id),
          files: cmd.files.map((f) => ({ name: f.name, from: f.data })),
        },
        made,
      );
      await submitLocked(tx, ingestion, def, this.maxJobsPerRun);
      await changeRun(
        tx,
        flagged,
        {
          archive_state: transitionArchive(Number(source.id), source.archive_state, 'ingest'),
          ingestion_run_id: ingestion.id,
        },
        [{ type: 'ingestion-started' }],
      );
      return {
        runId: Number(source.id),
        ingestionRunId: Number(ingestion.id),
      };
    });
    return { runId: outcome.runId, ingestionRunId: outcome.ingestionRunId };
  }
}
