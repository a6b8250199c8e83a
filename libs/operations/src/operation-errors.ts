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

export const requestSealed = (run: RunRow) =>
  conflict(
    'REQUEST_SEALED',
    `Request ${run.request_id} of run ${run.id} is sealed: its products are in the archive; no more versions or QA changes.`,
    {
      ...states(run),
      requestId: Number(run.request_id),
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

export const notArchived = (run: RunRow) =>
  conflict('NOT_ARCHIVED', NOT_ARCHIVED_MESSAGE, states(run));

export const directoryGone = (run: RunRow) =>
  conflict(
    'DIRECTORY_GONE',
    `Run ${run.id} has no directory left on disk (${run.disk_state}).`,
    states(run),
  );

export { states as runStates };
