import { conflict } from './errors';
import { ArchiveState } from './states';

/**
 * What changes whether a run is in the archive: an ingestion starting
 * (`ingest`), and its ingestion run's end (`succeed`: it completed; `fail`:
 * it failed or was cancelled).
 */
export const ARCHIVE_ACTIONS = ['ingest', 'succeed', 'fail'] as const;
export type ArchiveAction = (typeof ARCHIVE_ACTIONS)[number];

/**
 * The archive state machine. A failed ingestion may be started again; an
 * ingested run stays ingested (its request is sealed). Anything absent is
 * illegal.
 */
const ARCHIVE_TRANSITIONS: Record<ArchiveState, Partial<Record<ArchiveAction, ArchiveState>>> = {
  not_ingested: { ingest: 'ingesting' },
  ingesting: { succeed: 'ingested', fail: 'ingest_failed' },
  ingested: {},
  ingest_failed: { ingest: 'ingesting' },
};

export function nextArchiveState(
  state: ArchiveState,
  action: ArchiveAction,
): ArchiveState | undefined {
  return ARCHIVE_TRANSITIONS[state][action];
}

/** The actions the table allows from an archive state. */
export const archiveActionsFrom = (state: ArchiveState): ArchiveAction[] =>
  ARCHIVE_ACTIONS.filter((a) => ARCHIVE_TRANSITIONS[state][a] !== undefined);

/** The next archive state, or a 409 naming the state and the refused action. */
export function transitionArchive(
  runId: number,
  state: ArchiveState,
  action: ArchiveAction,
): ArchiveState {
  const next = nextArchiveState(state, action);
  if (!next) {
    throw conflict(
      'ILLEGAL_TRANSITION',
      `Run ${runId}'s archive state is ${state}: cannot ${action} it.`,
      { runId, dimension: 'archive', state, action },
    );
  }
  return next;
}
