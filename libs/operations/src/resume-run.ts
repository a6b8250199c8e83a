import { conflict, EventActor, notFound, resumeRun } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { JobStore, RunRow } from '@wfs/runs';
import { entryKind } from '@wfs/storage';
import { WorkflowCatalog } from '@wfs/workflows';
import { requestSealed } from './operation-errors';

/**
 * Resumes a failed or cancelled run in place (CONTRACT 5.4; DAGMan's rescue
 * DAG): the domain's resumeRun applied by the job store, as every job
 * transition is. Refused (409) for a sealed request, for an ingestion run
 * (its source's archive state was settled by its end: ingest again
 * instead), and when the run's directory is gone (cleaned up or expired:
 * re-run it instead, with its files).
 */
export class ResumeRun {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
  ) {}

  async execute(runId: number, actor: EventActor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const store = await JobStore.load(tx, this.catalog, { keys: [], runningOf: [runId] });
      if (!store.exists(runId)) throw notFound('run', runId);
      const row = store.row(runId) as RunRow;
      const [request] = await tx.query<{ sealed: boolean }>(
        'SELECT sealed FROM requests WHERE id = $1 FOR UPDATE',
        [row.request_id],
      );
      if (request?.sealed) throw requestSealed(row);
      if (row.source_run_id !== null)
        throw conflict(
          'RESUME_NOT_SUPPORTED',
          `Run ${runId} is an ingestion run: its end settled run ${row.source_run_id}; ingest that run again instead.`,
          { runId, state: row.state, sourceRunId: Number(row.source_run_id) },
        );
      // The state is the domain's to judge (409 ILLEGAL_TRANSITION); the directory is checked after.
      const gates = store
        .definition(runId)
        .jobs.filter((j) => j.executable === 'builtin:gate')
        .map((j) => j.name);
      const change = resumeRun(store.run(runId), actor, gates);
      if (row.processing_dir === null || entryKind(row.processing_dir) !== 'dir')
        throw conflict(
          'INPUTS_GONE',
          `Run ${runId}'s directory is gone (disk state ${row.disk_state}): re-run it instead (wfs rerun ${runId}).`,
          { runId, state: row.state, diskState: row.disk_state },
        );
      store.apply(runId, change);
      await store.flush(tx);
    });
  }
}
