import { GroupFacts, JobFacts, JobRules, RunFacts } from './change-set';
import { JobKey } from './job-key';
import {
  cancelRun,
  claimJob,
  finishJob,
  isRunningAttempt,
  loseJob,
  mayClaim,
} from './job-transitions';
import { JobState, RunState } from './states';

const run = (state: RunState, sourceRunId: number | null = null): RunFacts => ({
  id: 7,
  state,
  qaState: 'pending',
  diskState: 'processing',
  products: null,
  sourceRunId,
});
const job = (state: JobState, attempts: number, dispatched = true, name = 'a'): JobFacts => ({
  name,
  index: 0,
  state,
  attempts,
  dispatched,
});
const key = (attempt: number, name = 'a'): JobKey => ({ runId: 7, name, index: 0, attempt });
const rules = (over: Partial<JobRules> = {}): JobRules => ({
  name: 'a',
  stage: 'running casa',
  scatter: null,
  retries: 1,
  retryUnlessExit: null,
  retryBackoff: 5,
  ...over,
});
const group = (name: string, needs: string[], completed: number, instances = 1, released = true) =>
  ({ name, needs, completed, instances, released }) as GroupFacts;
const fail = { ok: false as const, reason: 'exit_code' as const, message: 'exited 3', exitCode: 3 };

describe('which messages may start or finish an instance', () => {
  test('a claim needs a live run, an idle dispatched instance and its next attempt', () => {
    expect(mayClaim(run('submitted'), job('idle', 0), key(1))).toBe(true);
    expect(mayClaim(run('running'), job('idle', 1), key(2))).toBe(true);
    expect(mayClaim(run('running'), job('idle', 0), key(2))).toBe(false); // not its attempt
    expect(mayClaim(run('running'), job('running', 1), key(1))).toBe(false); // a duplicate message
    expect(mayClaim(run('running'), job('idle', 0, false), key(1))).toBe(false); // not released
    expect(mayClaim(run('cancelled'), job('idle', 0), key(1))).toBe(false);
    expect(mayClaim(run('running'), undefined, key(1))).toBe(false);
  });

  test('a finish needs the running attempt of a live run', () => {
    expect(isRunningAttempt(run('running'), job('running', 2), key(2))).toBe(true);
    expect(isRunningAttempt(run('running'), job('running', 2), key(1))).toBe(false); // stale attempt
    expect(isRunningAttempt(run('running'), job('completed', 2), key(2))).toBe(false); // repeated
    expect(isRunningAttempt(run('failed'), job('running', 1), key(1))).toBe(false);
    expect(isRunningAttempt(run('running'), undefined, key(1))).toBe(false);
  });
});

describe('job transitions as change sets', () => {
  test('the first claim starts the run: running, then job-started', () => {
    const change = claimJob(run('submitted'), job('idle', 0), key(1), rules());
    expect(change?.jobs).toEqual([
      expect.objectContaining({ state: 'running', attempts: 1, started: true, statusReason: null }),
    ]);
    expect(change?.run).toEqual({ state: 'running', started: true });
    expect(change?.events.map((e) => e.type)).toEqual(['running', 'job-started']);
    expect(claimJob(run('running'), job('idle', 0), key(1), rules())?.run).toBeNull();
    expect(claimJob(run('running'), job('idle', 0), key(1), undefined)).toBeNull(); // no such job
  });

  test('a completed last instance of the last group completes the run (QA awaiting), an ingestion settles', () => {
    const groups = [group('a', [], 0), group('b', ['a'], 1)];
    const change = finishJob(
      run('running', 3),
      job('running', 1),
      key(1),
      rules(),
      groups,
      { ok: true },
      0,
    );
    expect(change?.groups).toEqual([group('a', [], 1)]);
    expect(change?.run).toEqual({ state: 'complete', finished: true, qaState: 'awaiting' });
    expect(change?.events.map((e) => e.type)).toEqual(['job-completed', 'complete']);
    expect(change?.settleSource).toBe('ingested');
  });

  test('a completed group releases the groups that needed only it', () => {
    const groups = [
      group('a', [], 1, 2),
      group('b', ['a'], 0, 1, false),
      group('c', ['a', 'b'], 0, 1, false),
    ];
    const change = finishJob(
      run('running'),
      job('running', 1),
      key(1),
      rules(),
      groups,
      { ok: true },
      0,
      {
        processingDir: '/qa/x',
        diskState: 'qa',
      },
    );
    expect(change?.release).toEqual(['b']);
    expect(change?.groups).toEqual([group('a', [], 2, 2), group('b', ['a'], 0, 1, true)]);
    expect(change?.run).toEqual({ processingDir: '/qa/x', diskState: 'qa' });
  });

  test('a failure with retries left is retried after the backoff; without, the run fails and stops the rest', () => {
    const retried = finishJob(run('running'), job('running', 1), key(1), rules(), [], fail, 3);
    expect(retried?.jobs[0]).toMatchObject({
      state: 'idle',
      statusReason: 'exit_code: exited 3',
      retryAfterMs: 5000,
    });
    expect(retried?.events.map((e) => e.type)).toEqual(['job-retrying']);
    const failed = finishJob(
      run('running'),
      job('running', 2),
      key(2),
      rules({ scatter: { i: 'n' } }),
      [],
      fail,
      3,
    );
    expect(failed?.jobs[0]).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(failed?.run).toMatchObject({
      state: 'failed',
      error: { code: 'exit_code', message: 'job a[0] exited 3' },
    });
    expect(failed?.stopLive).toMatchObject({ idle: 'skipped', reason: 'run failed' });
    expect(failed?.events.map((e) => e.type)).toEqual(['job-failed', 'failed']);
  });

  test('a lost worker is retried at once beyond the retries by two, then the run fails: worker_lost', () => {
    expect(
      loseJob(run('running'), job('running', 3), key(3), rules(), 'w1')?.jobs[0],
    ).toMatchObject({
      state: 'idle',
      retryAfterMs: 0,
      statusReason: 'worker_lost: w1',
    });
    expect(loseJob(run('running'), job('running', 4), key(4), rules(), 'w1')?.run).toMatchObject({
      state: 'failed',
      error: { code: 'worker_lost' },
    });
    expect(loseJob(run('running'), job('running', 4), key(3), rules(), 'w1')).toBeNull(); // stale
  });

  test('a cancel announces each running instance, removes the rest, and refuses a finished run', () => {
    const change = cancelRun(
      run('running'),
      [job('running', 1), job('running', 1, true, 'b')],
      'ana',
    );
    expect(change.jobs.map((j) => [j.name, j.state, j.statusReason])).toEqual([
      ['a', 'removed', 'cancelled'],
      ['b', 'removed', 'cancelled'],
    ]);
    expect(change.events.map((e) => e.type)).toEqual(['job-failed', 'job-failed', 'cancelled']);
    expect(change.stopLive).toMatchObject({ idle: 'removed', states: ['idle', 'held'] });
    expect(() => cancelRun(run('complete'), [], 'ana')).toThrow(/cannot cancel/);
  });
});
