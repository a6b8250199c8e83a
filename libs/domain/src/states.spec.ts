import {
  isTerminal,
  nextRunState,
  RUN_ACTIONS,
  RUN_STATES,
  RunAction,
  RunState,
  transitionRun,
} from './states';
import { WfsError } from './errors';

/** The whole table, written out: every (state, action) pair is decided here. */
const EXPECTED: Record<RunState, Partial<Record<RunAction, RunState>>> = {
  created: { submit: 'submitted', cancel: 'cancelled' },
  submitted: { start: 'running', fail: 'failed', cancel: 'cancelled' },
  running: { complete: 'complete', fail: 'failed', cancel: 'cancelled' },
  complete: {},
  failed: { resume: 'submitted' },
  cancelled: { resume: 'submitted' },
};

describe('run state machine', () => {
  for (const state of RUN_STATES) {
    for (const action of RUN_ACTIONS) {
      const expected = EXPECTED[state][action];
      test(`${state} + ${action} -> ${expected ?? 'refused'}`, () => {
        expect(nextRunState(state, action)).toBe(expected);
        if (expected) {
          expect(transitionRun(7, state, action)).toBe(expected);
        } else {
          let error: unknown;
          try {
            transitionRun(7, state, action);
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(WfsError);
          expect(error).toMatchObject({
            kind: 'conflict',
            code: 'ILLEGAL_TRANSITION',
            details: { runId: 7, state, action },
          });
        }
      });
    }
  }

  test('terminal states are exactly those with no way out but a person`s resume', () => {
    for (const state of RUN_STATES) {
      const exits = RUN_ACTIONS.filter(
        (a) => a !== 'resume' && nextRunState(state, a) !== undefined,
      );
      expect(isTerminal(state)).toBe(exits.length === 0);
    }
  });

  test('every state is reachable from created', () => {
    const seen = new Set<RunState>(['created']);
    let frontier: RunState[] = ['created'];
    while (frontier.length) {
      frontier = frontier.flatMap((s) =>
        RUN_ACTIONS.map((a) => nextRunState(s, a)).filter(
          (n): n is RunState => !!n && !seen.has(n),
        ),
      );
      frontier.forEach((s) => seen.add(s));
    }
    expect([...seen].sort()).toEqual([...RUN_STATES].sort());
  });
});
