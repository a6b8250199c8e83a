import { conflict } from './errors';
import { JobState } from './states';

export const JOB_ACTIONS = [
  'claim', // a worker starts the next attempt
  'complete', // the attempt succeeded
  'retry', // the attempt failed (or its worker was lost) and may be tried again
  'fail', // the attempt failed for good
  'stop', // the run failed: a running attempt is stopped
  'skip', // the run failed: an instance that never started will not
  'cancel', // the run was cancelled
  'hold', // an operator (or placement) holds it (issue "schedule like a batch system")
  'release', // back to idle
  'reuse', // a re-run from a later job takes this one's outputs from the source run: never runs
  'open', // a gate's needs are done: it waits for a person
  'approve', // a person lets the pipeline go on
  'reject', // a person stops it
] as const;
export type JobAction = (typeof JOB_ACTIONS)[number];

/**
 * The job instance state machine, beside the run's (states.ts): the only
 * place that says which action is allowed in which state. Anything absent is
 * illegal. `waiting` (a gate) joins here when gates come.
 */
const JOB_TRANSITIONS: Record<JobState, Partial<Record<JobAction, JobState>>> = {
  idle: {
    claim: 'running',
    skip: 'skipped',
    cancel: 'removed',
    hold: 'held',
    reuse: 'skipped',
    open: 'waiting',
  },
  // A gate open for a person's decision (CONTRACT 5.4).
  waiting: { approve: 'completed', reject: 'failed', skip: 'skipped', cancel: 'removed' },
  running: {
    complete: 'completed',
    retry: 'idle',
    fail: 'failed',
    stop: 'removed',
    cancel: 'removed',
    hold: 'held',
  },
  held: { release: 'idle', skip: 'skipped', cancel: 'removed' },
  completed: {},
  failed: {},
  removed: {},
  skipped: {},
};

export function nextJobState(state: JobState, action: JobAction): JobState | undefined {
  return JOB_TRANSITIONS[state][action];
}

/** The next state, or a 409 naming the instance, its state and the refused action. */
export function transitionJob(
  job: { runId: number; name: string; index: number },
  state: JobState,
  action: JobAction,
): JobState {
  const next = nextJobState(state, action);
  if (!next) {
    throw conflict(
      'ILLEGAL_JOB_TRANSITION',
      `Job ${job.name}[${job.index}] of run ${job.runId} is ${state}: cannot ${action} it.`,
      { runId: job.runId, job: job.name, index: job.index, state, action },
    );
  }
  return next;
}

/** States an instance is still live in (it may yet run): what a failed or cancelled run stops. */
export const LIVE_JOB_STATES: readonly JobState[] = (
  Object.keys(JOB_TRANSITIONS) as JobState[]
).filter((s) => nextJobState(s, 'cancel') !== undefined);
