import { GroupFacts, JobFacts, JobRules, RunFacts } from './change-set';
import { JobKey } from './job-key';
import {
  cancelRun,
  claimJob,
  finishJob,
  holdJob,
  isRunningAttempt,
  loseJob,
  mayClaim,
  releaseJob,
  resumeRun,
} from './job-transitions';
import { JobState, RunState } from './states';

const run = (state: RunState, sourceRunId: number | null = null): RunFacts => ({
  id: 7,
  state,
  qaState: 'pending',
  diskState: 'processing',
  products: null,
  ingests: sourceRunId !== null,
});
const W = 'worker-1';
const job = (
  state: JobState,
  attempts: number,
  dispatched = true,
  name = 'a',
  assignedTo: string | null = W,
  uncounted = 0,
): JobFacts => ({
  name,
  index: 0,
  state,
  attempts,
  dispatched,
  assignedTo,
  uncounted,
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
  test('a claim needs a live run, an idle ready instance placed on this worker and its next attempt', () => {
    expect(mayClaim(run('submitted'), job('idle', 0), key(1), W)).toBe(true);
    expect(mayClaim(run('running'), job('idle', 1), key(2), W)).toBe(true);
    expect(mayClaim(run('running'), job('idle', 0), key(2), W)).toBe(false); // not its attempt
    expect(mayClaim(run('running'), job('running', 1), key(1), W)).toBe(false); // a duplicate message
    expect(mayClaim(run('running'), job('idle', 0, false), key(1), W)).toBe(false); // not released
    expect(mayClaim(run('cancelled'), job('idle', 0), key(1), W)).toBe(false);
    expect(mayClaim(run('running'), undefined, key(1), W)).toBe(false);
    // Placed elsewhere, or not placed at all (a stray message, a Redis resend after a re-placement).
    expect(mayClaim(run('running'), job('idle', 0), key(1), 'worker-2')).toBe(false);
    expect(mayClaim(run('running'), job('idle', 0, true, 'a', null), key(1), W)).toBe(false);
    expect(mayClaim(run('running'), job('idle', 0, true, 'a', null), key(1), null)).toBe(false);
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
    const change = claimJob(run('submitted'), job('idle', 0), key(1), rules(), W);
    expect(change?.jobs).toEqual([
      expect.objectContaining({ state: 'running', attempts: 1, started: true, statusReason: null }),
    ]);
    expect(change?.run).toEqual({ state: 'running', started: true });
    expect(change?.events.map((e) => e.type)).toEqual(['running', 'job-started']);
    expect(claimJob(run('running'), job('idle', 0), key(1), rules(), W)?.run).toBeNull();
    expect(claimJob(run('running'), job('idle', 0), key(1), undefined, W)).toBeNull(); // no such job
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
    const change = cancelRun(run('running'), [job('running', 1), job('running', 1, true, 'b')], {
      name: 'ana',
      role: 'da',
    });
    expect(change.jobs.map((j) => [j.name, j.state, j.statusReason])).toEqual([
      ['a', 'removed', 'cancelled'],
      ['b', 'removed', 'cancelled'],
    ]);
    expect(change.events.map((e) => e.type)).toEqual(['job-failed', 'job-failed', 'cancelled']);
    expect(change.stopLive).toMatchObject({ idle: 'removed', states: ['idle', 'held', 'waiting'] });
    expect(change.actor).toEqual({ name: 'ana', role: 'da' });
    expect(() => cancelRun(run('complete'), [], { name: 'ana', role: 'da' })).toThrow(
      /cannot cancel/,
    );
  });

  test('a hold keeps an idle instance from starting; a running one is stopped and its attempt not counted', () => {
    const ops = { name: 'olga', role: 'ops' };
    const idle = holdJob(run('running'), job('idle', 0), 'held_by_operator: disk full', ops);
    expect(idle.jobs).toEqual([
      expect.objectContaining({
        state: 'held',
        attempts: 0,
        statusReason: 'held_by_operator: disk full',
      }),
    ]);
    expect(idle.jobs[0]?.uncountAttempt).toBeUndefined();
    expect(idle.stopAttempts).toEqual([]);
    expect(idle.events.map((e) => e.type)).toEqual(['job-held']);
    expect(idle.actor).toEqual(ops);
    const running = holdJob(run('running'), job('running', 2), 'held_by_operator: x', ops);
    expect(running.jobs[0]).toMatchObject({
      state: 'held',
      attempts: 2,
      uncountAttempt: true,
      finished: true,
    });
    expect(running.stopAttempts).toEqual([{ name: 'a', index: 0, attempt: 2 }]);
    // 409 from every other state, and in a run that is no longer live.
    for (const s of ['held', 'completed', 'failed', 'removed', 'skipped'] as const)
      expect(() => holdJob(run('running'), job(s, 1), 'r')).toThrow(/cannot hold/);
    expect(() => holdJob(run('failed'), job('idle', 0), 'r')).toThrow(/cannot hold/);
  });

  test('a release puts a held instance back to idle, for the scheduler to place; 409 otherwise', () => {
    const change = releaseJob(run('running'), job('held', 1, true, 'a', null));
    expect(change.jobs).toEqual([
      expect.objectContaining({ state: 'idle', attempts: 1, statusReason: null }),
    ]);
    expect(change.events.map((e) => e.type)).toEqual(['job-released']);
    for (const s of ['idle', 'running', 'completed'] as const)
      expect(() => releaseJob(run('running'), job(s, 1))).toThrow(/cannot release/);
  });

  test('attempts an operator stopped do not count against the retries', () => {
    // retries 1: the second counted failure fails the run, but two attempts were held-and-stopped.
    const counted = finishJob(run('running'), job('running', 2), key(2), rules(), [], fail, 3);
    expect(counted?.run?.state).toBe('failed');
    const uncounted = finishJob(
      run('running'),
      job('running', 3, true, 'a', W, 2),
      key(3),
      rules(),
      [],
      fail,
      3,
    );
    expect(uncounted?.jobs[0]).toMatchObject({ action: 'retry', state: 'idle' });
  });
});

describe('resumeRun (CONTRACT 5.4)', () => {
  const facts = (state: RunFacts['state']): RunFacts =>
    ({
      id: 9,
      state,
      qaState: 'not_required',
      diskState: 'processing',
      products: null,
      ingests: false,
    }) as RunFacts;

  test('a failed or cancelled run is submitted again; what the run`s end stopped is opened again', () => {
    for (const state of ['failed', 'cancelled'] as const) {
      const change = resumeRun(facts(state), { name: 'ana', role: 'da' });
      expect(change.run).toEqual({ state: 'submitted', resumed: true });
      expect(change.reopen).toEqual({ skippedBecause: ['run failed', 'cancelled'] });
      expect(change.events).toEqual([{ type: 'resumed' }]);
      expect(change.actor).toEqual({ name: 'ana', role: 'da' });
      expect(change.jobs).toEqual([]);
    }
  });

  test('any other state is a 409', () => {
    for (const state of ['created', 'submitted', 'running', 'complete'] as const)
      expect(() => resumeRun(facts(state))).toThrow(/cannot resume it/);
  });
});

describe('when (WORKFLOWS v1.1 data-driven steps)', () => {
  const ok = { ok: true as const };
  const withWhen = (g: GroupFacts, when: string): GroupFacts => ({ ...g, when, released: false });

  test('a group whose when holds is released; one whose when fails is skipped and counts as done', () => {
    const groups = [
      group('a', [], 0),
      withWhen(group('b', ['a'], 0), "jobs.a.result.mode == 'selfcal'"),
      group('c', ['b'], 0, 1, false),
    ];
    const holds = finishJob(run('running'), job('running', 1), key(1), rules(), groups, ok, 0, {
      result: { mode: 'selfcal' },
    });
    expect(holds?.release).toEqual(['b']);
    expect(holds?.skip).toEqual([]);
    expect(holds?.jobs[0]?.result).toEqual({ mode: 'selfcal' });
    expect(holds?.groups.find((g) => g.name === 'a')?.result).toEqual({ mode: 'selfcal' });

    const fails = finishJob(run('running'), job('running', 1), key(1), rules(), groups, ok, 0, {
      result: { mode: 'plain' },
    });
    // b is skipped, so c (which needs only b) is ready at once.
    expect(fails?.skip).toEqual([
      { name: 'b', reason: "when: jobs.a.result.mode == 'selfcal' is false" },
    ]);
    expect(fails?.release).toEqual(['c']);
    expect(fails?.groups.find((g) => g.name === 'b')).toMatchObject({
      skipped: true,
      completed: 1,
      released: true,
    });
    expect(fails?.run?.state).toBeUndefined();
  });

  test('when every job left is skipped, the run completes', () => {
    const groups = [
      group('a', [], 0),
      withWhen(group('b', ['a'], 0, 4), 'parameters.go == true'),
      withWhen(group('c', ['b'], 0), "jobs.b.state == 'completed'"),
    ];
    const change = finishJob(
      { ...run('running'), parameters: { go: false } },
      job('running', 1),
      key(1),
      rules(),
      groups,
      ok,
      0,
    );
    expect(change?.skip.map((s) => s.name)).toEqual(['b', 'c']);
    expect(change?.run?.state).toBe('complete');
    expect(change?.events.map((e) => e.type)).toEqual(['job-completed', 'complete']);
  });
});

describe('dynamic scatter (WORKFLOWS v1.1)', () => {
  const ok = { ok: true as const };
  const dynamic = (needs: string[]): GroupFacts => ({
    name: 'image',
    needs,
    completed: 0,
    instances: 0,
    released: false,
    planned: false,
    scatter: { spw: '{{jobs.a.result.spws}}', pol: ['I', 'V'] },
  });

  test('planned from the result when its needs are done: the product of its dimensions', () => {
    const change = finishJob(
      run('running'),
      job('running', 1),
      key(1),
      rules(),
      [group('a', [], 0), dynamic(['a']), group('c', ['image'], 0, 1, false)],
      ok,
      0,
      { result: { spws: [3, 5] } },
    );
    expect(change?.plan).toEqual([
      {
        name: 'image',
        items: [
          { spw: 3, pol: 'I' },
          { spw: 3, pol: 'V' },
          { spw: 5, pol: 'I' },
          { spw: 5, pol: 'V' },
        ],
      },
    ]);
    expect(change?.groups.find((g) => g.name === 'image')).toMatchObject({
      planned: true,
      instances: 4,
      released: true,
    });
    expect(change?.release).toEqual([]); // c waits for image's instances
  });

  test('over the run`s limit, or not a list: the run fails with bad_scatter', () => {
    const over = finishJob(
      { ...run('running'), maxJobs: 3 },
      job('running', 1),
      key(1),
      rules(),
      [group('a', [], 0), dynamic(['a'])],
      ok,
      0,
      { result: { spws: [1, 2, 3] } },
    );
    expect(over?.run).toMatchObject({ state: 'failed', error: { code: 'bad_scatter' } });
    expect(over?.run?.error?.message).toMatch(/7 job instances .* limit .* is 3/);
    const notList = finishJob(
      run('running'),
      job('running', 1),
      key(1),
      rules(),
      [group('a', [], 0), dynamic(['a'])],
      ok,
      0,
      { result: { spws: { a: 1 } } },
    );
    expect(notList?.run?.error?.message).toMatch(/not a list of strings or numbers/);
    expect(notList?.events.map((e) => e.type)).toEqual(['job-completed', 'failed']);
  });
});
