import { judgeJob, JobObservation, retryDelayMs, shouldRetry } from './casa';

const ok: JobObservation = {
  exitCode: 0,
  signal: null,
  timedOut: false,
  cancelled: false,
  spawnError: null,
  firstSevereLine: null,
  missingOutputs: [],
};

describe('the CASA completion standard', () => {
  test('exit 0, no SEVERE, outputs present: success', () => {
    expect(judgeJob('casa', ok)).toEqual({ ok: true });
  });
  test('a SEVERE line with exit 0 fails a casa job, naming the line', () => {
    const v = judgeJob('casa', {
      ...ok,
      firstSevereLine: '2026-01-01 00:00:00 SEVERE flagdata boom',
    });
    expect(v).toMatchObject({
      ok: false,
      reason: 'severe_in_log',
      message: expect.stringContaining('SEVERE flagdata boom'),
    });
  });
  test('the SEVERE rule does not apply to exit_code jobs', () => {
    expect(judgeJob('exit_code', { ...ok, firstSevereLine: 'x SEVERE y' })).toEqual({ ok: true });
  });
  test('non-zero exit, missing outputs, timeout, cancel and spawn errors each have their reason', () => {
    expect(judgeJob('casa', { ...ok, exitCode: 3 })).toMatchObject({
      reason: 'exit_code',
      exitCode: 3,
      message: 'exited with status 3',
    });
    expect(judgeJob('casa', { ...ok, missingOutputs: ['products/weblog.tgz'] })).toMatchObject({
      reason: 'missing_output',
      message: expect.stringContaining('products/weblog.tgz'),
    });
    expect(
      judgeJob('casa', { ...ok, exitCode: null, signal: 'SIGKILL', timedOut: true }),
    ).toMatchObject({ reason: 'timeout' });
    expect(
      judgeJob('casa', { ...ok, exitCode: null, signal: 'SIGTERM', cancelled: true }),
    ).toMatchObject({ reason: 'cancelled' });
    expect(judgeJob('casa', { ...ok, exitCode: null, spawnError: 'ENOENT' })).toMatchObject({
      reason: 'spawn_error',
    });
    expect(judgeJob('casa', { ...ok, exitCode: null, signal: 'SIGSEGV' })).toMatchObject({
      reason: 'exit_code',
      message: 'was killed by SIGSEGV',
    });
  });
});

describe('batch systems` own verdicts', () => {
  test('over memory and removed by someone else have their reasons, after cancel and timeout', () => {
    const oom = { reason: 'out_of_memory' as const, message: 'killed by Slurm over its memory' };
    expect(judgeJob('exit_code', { ...ok, exitCode: null, batchFailure: oom })).toEqual({
      ok: false,
      reason: 'out_of_memory',
      message: 'killed by Slurm over its memory',
      exitCode: null,
    });
    expect(
      judgeJob('casa', {
        ...ok,
        batchFailure: { reason: 'removed_externally', message: 'cancelled by uid 1000' },
      }),
    ).toMatchObject({ ok: false, reason: 'removed_externally' });
    expect(judgeJob('casa', { ...ok, cancelled: true, batchFailure: oom })).toMatchObject({
      reason: 'cancelled',
    });
  });
});

describe('retries (RETRY n UNLESS-EXIT v)', () => {
  const failure = {
    ok: false as const,
    reason: 'exit_code' as const,
    message: 'exited with status 1',
    exitCode: 1,
  };
  test('retries while attempts <= retries', () => {
    expect(shouldRetry(failure, 1, 2, null)).toBe(true);
    expect(shouldRetry(failure, 2, 2, null)).toBe(true);
    expect(shouldRetry(failure, 3, 2, null)).toBe(false);
    expect(shouldRetry(failure, 1, 0, null)).toBe(false);
  });
  test('never retries the UNLESS-EXIT status or a cancel', () => {
    expect(shouldRetry({ ...failure, exitCode: 7 }, 1, 5, 7)).toBe(false);
    expect(shouldRetry({ ...failure, exitCode: 1 }, 1, 5, 7)).toBe(true);
    expect(shouldRetry({ ...failure, reason: 'cancelled' }, 1, 5, null)).toBe(false);
  });
  test('a job removed from the batch system by someone else is not tried again; one over its memory is', () => {
    expect(shouldRetry({ ...failure, reason: 'removed_externally' }, 1, 5, null)).toBe(false);
    expect(shouldRetry({ ...failure, reason: 'out_of_memory' }, 1, 5, null)).toBe(true);
  });
  test('backoff doubles and is capped', () => {
    expect([1, 2, 3].map((a) => retryDelayMs(5, a))).toEqual([5000, 10000, 20000]);
    expect(retryDelayMs(5, 40)).toBe(3_600_000);
  });
});
