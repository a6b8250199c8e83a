import { isRunningAttempt, mayClaim } from './job-batch';
import type { JobRow, RunRow } from './run-model';

const run = (state: string) => ({ id: '7', state }) as RunRow;
const job = (state: string, attempts: number, dispatched = true) =>
  ({
    run_id: '7',
    name: 'a',
    idx: 0,
    state,
    attempts,
    dispatched_at: dispatched ? new Date() : null,
  }) as JobRow;
const key = (attempt: number) => ({ runId: 7, name: 'a', index: 0, attempt });

describe('which messages may start or finish an instance', () => {
  test('a claim needs a live run, an idle dispatched instance and the next attempt', () => {
    expect(mayClaim(run('submitted'), job('idle', 0), key(1))).toBe(true);
    expect(mayClaim(run('running'), job('idle', 1), key(2))).toBe(true);
    expect(mayClaim(run('running'), job('idle', 0), key(2))).toBe(false); // not its attempt
    expect(mayClaim(run('running'), job('running', 1), key(1))).toBe(false); // a duplicate message
    expect(mayClaim(run('running'), job('idle', 0, false), key(1))).toBe(false); // not released
    expect(mayClaim(run('cancelled'), job('idle', 0), key(1))).toBe(false);
    expect(mayClaim(run('running'), undefined, key(1))).toBe(false);
  });

  test('a finish counts only for the running attempt of a live run', () => {
    expect(isRunningAttempt(run('running'), job('running', 2), key(2))).toBe(true);
    expect(isRunningAttempt(run('running'), job('running', 2), key(1))).toBe(false); // stale attempt
    expect(isRunningAttempt(run('running'), job('completed', 2), key(2))).toBe(false); // repeated
    expect(isRunningAttempt(run('failed'), job('running', 1), key(1))).toBe(false);
    expect(isRunningAttempt(run('running'), undefined, key(1))).toBe(false);
  });
});
