import { WfsError } from './errors';
import { nextQaState, QA_ACTIONS, QaAction, qaActionsFrom, transitionQa } from './qa-state';
import { QA_STATES, QaState } from './states';

/** The whole table, written out: every (state, action) pair is decided here. */
const EXPECTED: Record<QaState, Partial<Record<QaAction, QaState>>> = {
  not_required: { complete: 'not_required', pass: 'pass', fail: 'fail', null: 'null' },
  pending: { complete: 'awaiting' },
  awaiting: { pass: 'pass', fail: 'fail', null: 'null', supersede: 'fail' },
  pass: { pass: 'pass', fail: 'fail', null: 'null', supersede: 'fail' },
  fail: { pass: 'pass', fail: 'fail', null: 'null' },
  null: { pass: 'pass', fail: 'fail', null: 'null' },
};

describe('QA state machine', () => {
  for (const state of QA_STATES) {
    for (const action of QA_ACTIONS) {
      const expected = EXPECTED[state][action];
      test(`${state} + ${action} -> ${expected ?? 'refused'}`, () => {
        expect(nextQaState(state, action)).toBe(expected);
        expect(qaActionsFrom(state).includes(action)).toBe(expected !== undefined);
        if (expected) {
          expect(transitionQa(7, state, action)).toBe(expected);
        } else {
          let error: unknown;
          try {
            transitionQa(7, state, action);
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(WfsError);
          expect(error).toMatchObject({
            kind: 'conflict',
            code: 'ILLEGAL_TRANSITION',
            details: { runId: 7, dimension: 'qa', state, action },
          });
        }
      });
    }
  }

  test('every state is reachable from the states a run is created in', () => {
    const seen = new Set<QaState>(['pending', 'not_required']);
    let frontier = [...seen];
    while (frontier.length) {
      frontier = frontier.flatMap((s) =>
        QA_ACTIONS.map((a) => nextQaState(s, a)).filter((n): n is QaState => !!n && !seen.has(n)),
      );
      frontier.forEach((s) => seen.add(s));
    }
    expect([...seen].sort()).toEqual([...QA_STATES].sort());
  });
});
