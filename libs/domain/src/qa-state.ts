import { conflict } from './errors';
import { QaState } from './states';

/**
 * What changes a run's QA flag: the run completing (`complete`), an
 * analyst's decision (`pass`, `fail`, `null`: set-qa, and through it ingest
 * and reject), and another version of the request passing (`supersede`).
 */
export const QA_ACTIONS = ['complete', 'pass', 'fail', 'null', 'supersede'] as const;
export type QaAction = (typeof QA_ACTIONS)[number];

/**
 * The QA state machine. A run is created `pending` when its workflow requires
 * QA, `not_required` otherwise, and completes `awaiting` or `not_required`
 * (so the completion asks the table, not the definition). A decision may be
 * changed (pass -> fail ...) and may be given to a run that needs no QA; the
 * use case refuses first what the states alone do not show (not complete,
 * rejected, sealed). Anything absent is illegal.
 */
const QA_TRANSITIONS: Record<QaState, Partial<Record<QaAction, QaState>>> = {
  not_required: { complete: 'not_required', pass: 'pass', fail: 'fail', null: 'null' },
  pending: { complete: 'awaiting' },
  awaiting: { pass: 'pass', fail: 'fail', null: 'null', supersede: 'fail' },
  pass: { pass: 'pass', fail: 'fail', null: 'null', supersede: 'fail' },
  fail: { pass: 'pass', fail: 'fail', null: 'null' },
  null: { pass: 'pass', fail: 'fail', null: 'null' },
};

export function nextQaState(state: QaState, action: QaAction): QaState | undefined {
  return QA_TRANSITIONS[state][action];
}

/** The actions the table allows from a QA state. */
export const qaActionsFrom = (state: QaState): QaAction[] =>
  QA_ACTIONS.filter((a) => QA_TRANSITIONS[state][a] !== undefined);

/** The next QA state, or a 409 naming the state and the refused action. */
export function transitionQa(runId: number, state: QaState, action: QaAction): QaState {
  const next = nextQaState(state, action);
  if (!next) {
    throw conflict('ILLEGAL_TRANSITION', `Run ${runId}'s QA is ${state}: cannot ${action} it.`, {
      runId,
      dimension: 'qa',
      state,
      action,
    });
  }
  return next;
}
