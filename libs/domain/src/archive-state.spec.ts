import {
  ARCHIVE_ACTIONS,
  ArchiveAction,
  archiveActionsFrom,
  nextArchiveState,
  transitionArchive,
} from './archive-state';
import { WfsError } from './errors';
import { ARCHIVE_STATES, ArchiveState } from './states';

/** The whole table, written out: every (state, action) pair is decided here. */
const EXPECTED: Record<ArchiveState, Partial<Record<ArchiveAction, ArchiveState>>> = {
  not_ingested: { ingest: 'ingesting' },
  ingesting: { succeed: 'ingested', fail: 'ingest_failed' },
  ingested: {},
  ingest_failed: { ingest: 'ingesting' },
};

describe('archive state machine', () => {
  for (const state of ARCHIVE_STATES) {
    for (const action of ARCHIVE_ACTIONS) {
      const expected = EXPECTED[state][action];
      test(`${state} + ${action} -> ${expected ?? 'refused'}`, () => {
        expect(nextArchiveState(state, action)).toBe(expected);
        expect(archiveActionsFrom(state).includes(action)).toBe(expected !== undefined);
        if (expected) {
          expect(transitionArchive(7, state, action)).toBe(expected);
        } else {
          let error: unknown;
          try {
            transitionArchive(7, state, action);
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(WfsError);
          expect(error).toMatchObject({
            kind: 'conflict',
            code: 'ILLEGAL_TRANSITION',
            details: { runId: 7, dimension: 'archive', state, action },
          });
        }
      });
    }
  }

  test('ingested is the only state with no way out', () => {
    expect(ARCHIVE_STATES.filter((s) => archiveActionsFrom(s).length === 0)).toEqual(['ingested']);
  });

  test('every state is reachable from not_ingested', () => {
    const seen = new Set<ArchiveState>(['not_ingested']);
    let frontier = [...seen];
    while (frontier.length) {
      frontier = frontier.flatMap((s) =>
        ARCHIVE_ACTIONS.map((a) => nextArchiveState(s, a)).filter(
          (n): n is ArchiveState => !!n && !seen.has(n),
        ),
      );
      frontier.forEach((s) => seen.add(s));
    }
    expect([...seen].sort()).toEqual([...ARCHIVE_STATES].sort());
  });
});
