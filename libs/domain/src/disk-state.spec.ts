import {
  DISK_ACTIONS,
  DISK_STEP_ACTIONS,
  DiskAction,
  diskActionsFrom,
  nextDiskState,
  transitionDisk,
  transitionDiskTo,
} from './disk-state';
import { WfsError } from './errors';
import { DISK_STATES, DiskState } from './states';

/** The whole table, written out: every (state, action) pair is decided here. */
const EXPECTED: Record<DiskState, Partial<Record<DiskAction, DiskState>>> = {
  none: {},
  processing: { deliver: 'qa', return: 'processing', cleanup: 'removed', expire: 'expired' },
  qa: { return: 'processing', reject: 'removed', cleanup: 'removed' },
  removed: {},
  expired: {},
};

const refusal = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

describe('disk state machine', () => {
  for (const state of DISK_STATES) {
    for (const action of DISK_ACTIONS) {
      const expected = EXPECTED[state][action];
      test(`${state} + ${action} -> ${expected ?? 'refused'}`, () => {
        expect(nextDiskState(state, action)).toBe(expected);
        expect(diskActionsFrom(state).includes(action)).toBe(expected !== undefined);
        if (expected) {
          expect(transitionDisk(7, state, action)).toBe(expected);
        } else {
          const error = refusal(() => transitionDisk(7, state, action));
          expect(error).toBeInstanceOf(WfsError);
          expect(error).toMatchObject({
            kind: 'conflict',
            code: 'ILLEGAL_TRANSITION',
            details: { runId: 7, dimension: 'disk', state, action },
          });
        }
      });
    }
  }

  // A step's effect names where it left the directory: legal exactly when its move is.
  const STEP_MOVES: Partial<Record<DiskState, DiskAction>> = {
    qa: 'deliver',
    processing: 'return',
  };
  for (const state of DISK_STATES) {
    for (const to of DISK_STATES) {
      const action = STEP_MOVES[to];
      const expected = action && EXPECTED[state][action];
      test(`a step leaving a ${state} directory ${to} -> ${expected ?? 'refused'}`, () => {
        expect(DISK_STEP_ACTIONS[to]).toBe(action);
        if (expected) {
          expect(expected).toBe(to);
          expect(transitionDiskTo(7, state, to)).toBe(to);
        } else {
          const error = refusal(() => transitionDiskTo(7, state, to));
          expect(error).toBeInstanceOf(WfsError);
          expect(error).toMatchObject({
            kind: 'conflict',
            code: 'ILLEGAL_TRANSITION',
            details: { runId: 7, dimension: 'disk', state },
          });
        }
      });
    }
  }

  test('a directory once removed or expired stays gone', () => {
    expect(diskActionsFrom('removed')).toEqual([]);
    expect(diskActionsFrom('expired')).toEqual([]);
  });

  test('every state but none is reachable from processing, and none leads nowhere', () => {
    const seen = new Set<DiskState>(['processing']);
    let frontier = [...seen];
    while (frontier.length) {
      frontier = frontier.flatMap((s) =>
        DISK_ACTIONS.map((a) => nextDiskState(s, a)).filter(
          (n): n is DiskState => !!n && !seen.has(n),
        ),
      );
      frontier.forEach((s) => seen.add(s));
    }
    expect([...seen].sort()).toEqual(DISK_STATES.filter((s) => s !== 'none').sort());
    expect(diskActionsFrom('none')).toEqual([]);
  });
});
