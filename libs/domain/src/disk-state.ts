import { conflict } from './errors';
import { DiskState } from './states';

/**
 * What happens to a run's directory: moved to the QA area for review
 * (`deliver`), moved back to the processing area after ingestion (`return`),
 * deleted from the QA area by a reject (`reject`), deleted once archived or
 * superseded (`cleanup`), deleted by the retention sweep (`expire`).
 */
export const DISK_ACTIONS = ['deliver', 'return', 'reject', 'cleanup', 'expire'] as const;
export type DiskAction = (typeof DISK_ACTIONS)[number];

/**
 * The disk state machine. Runs are created `processing`; `none` (no
 * directory) is the contract's, and nothing moves a run into or out of it.
 * `return` from `processing` is the post-ingestion step finding the
 * directory already there (it never went to QA, or a repeat). The sweep
 * expires only what is in the processing area; the QA area is never swept.
 * Anything absent is illegal.
 */
const DISK_TRANSITIONS: Record<DiskState, Partial<Record<DiskAction, DiskState>>> = {
  none: {},
  processing: { deliver: 'qa', return: 'processing', cleanup: 'removed', expire: 'expired' },
  qa: { return: 'processing', reject: 'removed', cleanup: 'removed' },
  removed: {},
  expired: {},
};

export function nextDiskState(state: DiskState, action: DiskAction): DiskState | undefined {
  return DISK_TRANSITIONS[state][action];
}

/** The actions the table allows from a disk state. */
export const diskActionsFrom = (state: DiskState): DiskAction[] =>
  DISK_ACTIONS.filter((a) => DISK_TRANSITIONS[state][a] !== undefined);

/** The next disk state, or a 409 naming the state and the refused action. */
export function transitionDisk(runId: number, state: DiskState, action: DiskAction): DiskState {
  const next = nextDiskState(state, action);
  if (!next) {
    throw conflict(
      'ILLEGAL_TRANSITION',
      `Run ${runId}'s directory is ${state}: cannot ${action} it.`,
      { runId, dimension: 'disk', state, action },
    );
  }
  return next;
}

/**
 * Steps report where they left a directory (a builtin's effects carry the
 * disk state, `qa` or `processing`), not the move: the move that leaves it
 * there. A step may not remove or expire a directory.
 */
export const DISK_STEP_ACTIONS: Readonly<Partial<Record<DiskState, DiskAction>>> = {
  qa: 'deliver',
  processing: 'return',
};

/** The disk state a step's effect writes: `to`, when the move there is legal from `state`; else a 409. */
export function transitionDiskTo(runId: number, state: DiskState, to: DiskState): DiskState {
  const action = DISK_STEP_ACTIONS[to];
  if (!action) {
    throw conflict('ILLEGAL_TRANSITION', `Run ${runId}'s directory cannot be moved to ${to}.`, {
      runId,
      dimension: 'disk',
      state,
      to,
    });
  }
  return transitionDisk(runId, state, action);
}
