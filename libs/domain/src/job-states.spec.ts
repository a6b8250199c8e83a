import { WfsError } from './errors';
import { JOB_ACTIONS, JobAction, LIVE_JOB_STATES, nextJobState, transitionJob } from './job-states';
import { JOB_STATES, JobState } from './states';

/** The whole table, written out: every (state, action) pair is decided here. */
const EXPECTED: Record<JobState, Partial<Record<JobAction, JobState>>> = {
  idle: {
    claim: 'running',
    skip: 'skipped',
    cancel: 'removed',
    hold: 'held',
    reuse: 'skipped',
    open: 'waiting',
  },
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

describe('job state machine', () => {
  const job = { runId: 7, name: 'calibrate', index: 2 };
  for (const state of JOB_STATES) {
    for (const action of JOB_ACTIONS) {
      const expected = EXPECTED[state][action];
      test(`${state} + ${action} -> ${expected ?? 'refused'}`, () => {
        expect(nextJobState(state, action)).toBe(expected);
        if (expected) {
          expect(transitionJob(job, state, action)).toBe(expected);
          return;
        }
        let error: unknown;
        try {
          transitionJob(job, state, action);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(WfsError);
        expect(error).toMatchObject({
          kind: 'conflict',
          code: 'ILLEGAL_JOB_TRANSITION',
          details: { runId: 7, job: 'calibrate', index: 2, state, action },
        });
      });
    }
  }

  test('live states are those a cancel still reaches; terminal ones have no way out', () => {
    expect([...LIVE_JOB_STATES].sort()).toEqual(['held', 'idle', 'running', 'waiting']);
    for (const state of ['completed', 'failed', 'removed', 'skipped'] as const)
      for (const action of JOB_ACTIONS) expect(nextJobState(state, action)).toBeUndefined();
  });
});
