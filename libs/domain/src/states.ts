import { conflict } from './errors';

export const RUN_STATES = [
  'created',
  'submitted',
  'running',
  'complete',
  'failed',
  'cancelled',
] as const;
export type RunState = (typeof RUN_STATES)[number];

export const RUN_ACTIONS = ['submit', 'start', 'complete', 'fail', 'cancel', 'resume'] as const;
export type RunAction = (typeof RUN_ACTIONS)[number];

/**
 * The run state machine: the only place that says which action is allowed
 * in which state. Anything absent is illegal (409 with the state).
 */
const RUN_TRANSITIONS: Record<RunState, Partial<Record<RunAction, RunState>>> = {
  created: { submit: 'submitted', cancel: 'cancelled' },
  // A submitted run can fail before any job starts (e.g. nothing could be dispatched).
  submitted: { start: 'running', fail: 'failed', cancel: 'cancelled' },
  running: { complete: 'complete', fail: 'failed', cancel: 'cancelled' },
  complete: {},
  // Resumed in place (CONTRACT 5.4): what did not complete runs again, the run is submitted again.
  failed: { resume: 'submitted' },
  cancelled: { resume: 'submitted' },
};

export function nextRunState(state: RunState, action: RunAction): RunState | undefined {
  return RUN_TRANSITIONS[state][action];
}

/** The next state, or a 409 naming the state and the refused action. */
export function transitionRun(runId: number, state: RunState, action: RunAction): RunState {
  const next = nextRunState(state, action);
  if (!next) {
    throw conflict('ILLEGAL_TRANSITION', `Run ${runId} is ${state}: cannot ${action} it.`, {
      runId,
      state,
      action,
    });
  }
  return next;
}

export const isTerminal = (state: RunState): boolean =>
  state === 'complete' || state === 'failed' || state === 'cancelled';

export const JOB_STATES = [
  'idle',
  'waiting',
  'running',
  'completed',
  'failed',
  'held',
  'removed',
  'skipped',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const QA_STATES = ['not_required', 'pending', 'awaiting', 'pass', 'fail', 'null'] as const;
export type QaState = (typeof QA_STATES)[number];

export const ARCHIVE_STATES = ['not_ingested', 'ingesting', 'ingested', 'ingest_failed'] as const;
export type ArchiveState = (typeof ARCHIVE_STATES)[number];

export const DISK_STATES = ['none', 'processing', 'qa', 'removed', 'expired'] as const;
export type DiskState = (typeof DISK_STATES)[number];

/** Why a job failed, as the contract names it. */
export type FailureReason =
  | 'exit_code'
  | 'severe_in_log'
  | 'missing_output'
  | 'timeout'
  | 'cancelled'
  | 'spawn_error'
  | 'worker_lost'
  /** A batch system killed it over its memory (Slurm OUT_OF_MEMORY). */
  | 'out_of_memory'
  /** Someone else removed it from the batch system (scancel, condor_rm not by wfs). */
  | 'removed_externally'
  /** Its result file is not a JSON object, or is over 64 KiB (WORKFLOWS v1.1). */
  | 'bad_result';
