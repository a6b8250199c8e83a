import { FailureReason } from './states';

/** What the executor observed of one job's process. */
export interface JobObservation {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  spawnError: string | null;
  /** First line containing SEVERE in the CASA logs, or null. Only read for `casa` jobs. */
  firstSevereLine: string | null;
  /** Declared outputs that do not exist after the process ended. */
  missingOutputs: string[];
  /** A batch system's own verdict that is not an exit (over its memory, removed by someone else). */
  batchFailure?: { reason: 'out_of_memory' | 'removed_externally'; message: string } | null;
}

export type JobVerdict =
  { ok: true } | { ok: false; reason: FailureReason; message: string; exitCode: number | null };

/**
 * The one standard for "did the job succeed". For `casa` jobs it is the CASA
 * completion standard: exit status 0 AND no SEVERE line AND outputs exist.
 * For `exit_code` jobs the SEVERE rule does not apply; outputs still must exist.
 */
export function judgeJob(rule: 'exit_code' | 'casa', o: JobObservation): JobVerdict {
  if (o.cancelled)
    return { ok: false, reason: 'cancelled', message: 'cancelled', exitCode: o.exitCode };
  if (o.timedOut)
    return {
      ok: false,
      reason: 'timeout',
      message: 'exceeded its timeout and was killed',
      exitCode: o.exitCode,
    };
  if (o.batchFailure)
    return {
      ok: false,
      reason: o.batchFailure.reason,
      message: o.batchFailure.message,
      exitCode: o.exitCode,
    };
  if (o.spawnError !== null)
    return {
      ok: false,
      reason: 'spawn_error',
      message: `could not start: ${o.spawnError}`,
      exitCode: null,
    };
  if (o.exitCode !== 0) {
    const how =
      o.exitCode === null
        ? `was killed by ${o.signal ?? 'a signal'}`
        : `exited with status ${o.exitCode}`;
    return { ok: false, reason: 'exit_code', message: how, exitCode: o.exitCode };
  }
  if (rule === 'casa' && o.firstSevereLine !== null) {
    return {
      ok: false,
      reason: 'severe_in_log',
      message: `SEVERE in the CASA log: ${o.firstSevereLine}`,
      exitCode: 0,
    };
  }
  if (o.missingOutputs.length > 0) {
    return {
      ok: false,
      reason: 'missing_output',
      message: `missing output: ${o.missingOutputs.join(', ')}`,
      exitCode: 0,
    };
  }
  return { ok: true };
}

/** Whether a failed attempt is retried (DAGMan's RETRY n UNLESS-EXIT v). */
export function shouldRetry(
  verdict: Exclude<JobVerdict, { ok: true }>,
  attempts: number,
  retries: number,
  retryUnlessExit: number | null,
): boolean {
  // Someone removed it on purpose (a cancel, a scancel or condor_rm from outside): not tried again.
  if (verdict.reason === 'cancelled' || verdict.reason === 'removed_externally') return false;
  if (attempts > retries) return false;
  if (retryUnlessExit !== null && verdict.exitCode === retryUnlessExit) return false;
  return true;
}

/** Backoff before the next attempt: base * 2^(attempts-1) seconds, capped at an hour. */
export function retryDelayMs(baseSeconds: number, attempts: number): number {
  return Math.min(3600, baseSeconds * 2 ** Math.max(0, attempts - 1)) * 1000;
}
