import { conflict } from '@wfs/domain';
import type { RunRow } from '@wfs/runs';

/** The exact words the analysts' old cleanup script used; tools may match on them. */
export const NOT_ARCHIVED_MESSAGE =
  'The data products are not in the archive, please wait and try again. If failures are repeated, please file an SSA ticket.';

const states = (run: RunRow) => ({
  runId: Number(run.id),
  state: run.state,
  qaState: run.qa_state,
  archiveState: run.archive_state,
  diskState: run.disk_state,
});

export const runNotComplete = (run: RunRow, action: string) =>
  conflict(
    'RUN_NOT_COMPLETE',
    `Run ${run.id} is ${run.state}: only a complete run can be ${action}.`,
    states(run),
  );

export const runRejected = (run: RunRow) =>
  conflict(
    'RUN_REJECTED',
    `Run ${run.id} was rejected (its subject is marked Do Not Calibrate): its QA flag stays fail.`,
    {
      ...states(run),
      hint: `To judge the data again, re-run it: wfs rerun ${run.id} (POST /api/v1/runs/${run.id}/rerun).`,
    },
  );

export const requestSealed = (run: RunRow) =>
  conflict(
    'REQUEST_SEALED',
    `Request ${run.request_id} of run ${run.id} is sealed: its products are in the archive; no more versions or QA changes.`,
    {
      ...states(run),
      requestId: Number(run.request_id),
      ...(run.archive_state !== 'ingested' &&
      run.disk_state !== 'removed' &&
      run.disk_state !== 'expired'
        ? {
            hint: `Another version was archived; run ${run.id}'s directory can be deleted with: wfs cleanup ${run.id}.`,
          }
        : {}),
    },
  );

export const ingestionUnderway = (run: RunRow) =>
  conflict(
    run.archive_state === 'ingested' ? 'ALREADY_INGESTED' : 'INGESTION_IN_PROGRESS',
    run.archive_state === 'ingested'
      ? `Run ${run.id} is already ingested (ingestion run ${run.ingestion_run_id}).`
      : `Run ${run.id} is being ingested (ingestion run ${run.ingestion_run_id}).`,
    {
      ...states(run),
      ingestionRunId: run.ingestion_run_id === null ? null : Number(run.ingestion_run_id),
    },
  );

/** What to do next, besides the exact message: nothing will come of waiting for an ingestion never started. */
function notArchivedHint(run: RunRow): { ingestion: string; hint: string } | null {
  const ingest = `wfs ingest ${run.id} --qa pass|fail|null --analyst NAME (POST /api/v1/runs/${run.id}/ingest)`;
  switch (run.archive_state) {
    case 'not_ingested':
      return {
        ingestion: 'not_started',
        hint: `No ingestion of run ${run.id} was started; start one with: ${ingest}.`,
      };
    case 'ingest_failed':
      return {
        ingestion: 'failed',
        hint: `The ingestion of run ${run.id} (ingestion run ${run.ingestion_run_id}) failed; start another with: ${ingest}.`,
      };
    case 'ingesting':
      return {
        ingestion: 'in_progress',
        hint: `Ingestion run ${run.ingestion_run_id} is archiving run ${run.id}: wait for it (wfs watch ${run.ingestion_run_id}).`,
      };
    case 'ingested':
      return null;
  }
}

export const notArchived = (run: RunRow) =>
  conflict('NOT_ARCHIVED', NOT_ARCHIVED_MESSAGE, {
    ...states(run),
    ...(run.state === 'complete' ? notArchivedHint(run) : {}),
  });

export const directoryGone = (run: RunRow) =>
  conflict(
    'DIRECTORY_GONE',
    `Run ${run.id} has no directory left on disk (${run.disk_state}).`,
    states(run),
  );

export { states as runStates };
