import { JobVerdict, retryDelayMs, shouldRetry } from './casa';
import { dynamicItems, readyGroups, ScatterItem } from './dag';
import {
  ChangeSet,
  EventSpec,
  GroupFacts,
  JobChange,
  JobFacts,
  JobRules,
  RunEffects,
  RunChange,
  RunFacts,
} from './change-set';
import { transitionDiskTo } from './disk-state';
import { conflict } from './errors';
import { EventActor } from './events';
import { evaluate, parseExpression } from './expressions';
import { JobKey } from './job-key';
import { transitionJob } from './job-states';
import { transitionQa } from './qa-state';
import { transitionRun } from './states';

/**
 * The job transitions as pure functions: each takes the loaded facts of a
 * run, its instance (and, to finish, its groups) and returns the change set
 * to apply, or null when the message is stale (a redelivery, a later
 * attempt, a cancelled run): nothing to do. One store applies change sets
 * (set-based for a batch, the same code for a batch of one) and one outbox
 * writer numbers their events.
 */

const empty = (): ChangeSet => ({
  jobs: [],
  groups: [],
  run: null,
  events: [],
  release: [],
  stopLive: null,
  reopen: null,
  skip: [],
  plan: [],
  stopAttempts: [],
  progress: [],
  actor: null,
  settleSource: null,
  sourceChanges: [],
});

const live = (run: RunFacts) => run.state === 'submitted' || run.state === 'running';

const keyOf = (runId: number, job: { name: string; index: number }) => ({
  runId,
  name: job.name,
  index: job.index,
});

/**
 * Whether this message may start its instance on this worker: a live run, an
 * idle ready instance the scheduler placed on this worker, the next attempt.
 */
export function mayClaim(
  run: RunFacts,
  job: JobFacts | undefined,
  key: JobKey,
  workerId: string | null,
): boolean {
  return (
    live(run) &&
    !!job &&
    job.state === 'idle' &&
    job.dispatched &&
    job.assignedTo !== null &&
    job.assignedTo === workerId &&
    job.attempts + 1 === key.attempt
  );
}

/** Attempts that count against a job's retries (an operator's hold does not). */
const counted = (job: JobFacts) => job.attempts - job.uncounted;

/** Whether `key` names the running attempt of its instance in a live run (else a finish is stale). */
export function isRunningAttempt(run: RunFacts, job: JobFacts | undefined, key: JobKey): boolean {
  return live(run) && !!job && job.state === 'running' && job.attempts === key.attempt;
}

/** A worker starts the next attempt; the run's first start makes it running. */
export function claimJob(
  run: RunFacts,
  job: JobFacts | undefined,
  key: JobKey,
  rules: JobRules | undefined,
  workerId: string | null,
): ChangeSet | null {
  if (!job || !rules || !mayClaim(run, job, key, workerId)) return null;
  const change = empty();
  change.jobs.push({
    name: job.name,
    index: job.index,
    action: 'claim',
    state: transitionJob(keyOf(run.id, job), job.state, 'claim'),
    attempts: job.attempts + 1,
    exitCode: null,
    statusReason: null,
    started: true,
  });
  if (run.state === 'submitted') {
    change.run = { state: transitionRun(run.id, run.state, 'start'), started: true };
    change.events.push({ type: 'running' });
  }
  change.events.push({ type: 'job-started', job });
  return summarized(change, rules, job.name);
}

/**
 * A summary group's (`events: summary`, CONTRACT 5.8) instances publish no
 * `job-started` or `job-completed` of their own: the change marks the group's
 * `group-progress` as due (sent at most once a second, libs/runs
 * group-progress.ts), and the instance that completes the group puts the last
 * one where its `job-completed` would have been. Failures, holds and retries
 * stay per instance.
 */
function summarized(change: ChangeSet, rules: JobRules | undefined, name: string): ChangeSet {
  if (rules?.events !== 'summary') return change;
  const group = change.groups.find((g) => g.name === name);
  const done = !!group && groupDone(group);
  const events: EventSpec[] = [];
  for (const e of change.events) {
    if (e.job?.name !== name || (e.type !== 'job-started' && e.type !== 'job-completed')) {
      events.push(e);
    } else if (e.type === 'job-completed' && done && group) {
      const total = group.instances;
      events.push({
        type: 'group-progress',
        progress: {
          job: name,
          stage: rules.stage ?? '',
          total,
          idle: 0,
          running: 0,
          completed: total,
          failed: 0,
          held: 0,
        },
      });
    }
  }
  change.events = events;
  if (!done) change.progress.push(name);
  return change;
}

/** Applies a finished attempt's verdict: completed (maybe the run too), retried, or the run fails. */
export function finishJob(
  run: RunFacts,
  job: JobFacts | undefined,
  key: JobKey,
  rules: JobRules,
  groups: readonly GroupFacts[],
  verdict: JobVerdict,
  exitCode: number | null,
  effects: RunEffects = {},
): ChangeSet | null {
  if (!job || !isRunningAttempt(run, job, key)) return null;
  return summarized(
    finishAttempt(run, job, rules, groups, verdict, exitCode, effects),
    rules,
    job.name,
  );
}

function finishAttempt(
  run: RunFacts,
  job: JobFacts,
  rules: JobRules,
  groups: readonly GroupFacts[],
  verdict: JobVerdict,
  exitCode: number | null,
  effects: RunEffects,
): ChangeSet {
  if (!verdict.ok) {
    if (shouldRetry(verdict, counted(job), rules.retries, rules.retryUnlessExit))
      return retryJob(
        run,
        job,
        `${verdict.reason}: ${verdict.message}`,
        verdict.exitCode,
        retryDelayMs(rules.retryBackoff, counted(job)),
      );
    return failRun(run, job, rules, verdict);
  }
  if (rules.repeat && !repeatDone(rules, run, job, groups, effects))
    return nextRound(run, job, rules.repeat, effects);
  return completeJob(run, job, groups, exitCode, effects);
}

/** Whether a repeated job's last round was its last: `until` holds, or `max` rounds ran. */
function repeatDone(
  rules: JobRules,
  run: RunFacts,
  job: JobFacts,
  groups: readonly GroupFacts[],
  effects: RunEffects,
): boolean {
  const repeat = rules.repeat as { max: number; until: string };
  const round = job.round ?? 1;
  if (round >= repeat.max) return true;
  const result = effects.result ?? null;
  const jobs = { ...jobsScope(groups), [job.name]: { state: 'running', result } };
  return evaluate(parseExpression(repeat.until), {
    parameters: run.parameters ?? {},
    subject: run.subject ?? null,
    jobs,
    result,
    round,
  });
}

/**
 * A round of a repeated job is done and `until` does not hold yet: it runs
 * again at once (a new attempt, the next round), its result kept as the
 * latest; the round does not count against its retries.
 */
function nextRound(
  run: RunFacts,
  job: JobFacts,
  repeat: { max: number; until: string },
  effects: RunEffects,
): ChangeSet {
  const change = empty();
  const round = (job.round ?? 1) + 1;
  change.jobs.push({
    name: job.name,
    index: job.index,
    action: 'retry',
    state: transitionJob(keyOf(run.id, job), job.state, 'retry'),
    attempts: job.attempts,
    exitCode: 0,
    statusReason: `repeat: round ${round - 1} done, until (${repeat.until}) not yet true`,
    finished: true,
    retryAfterMs: 0,
    uncountAttempt: true,
    round,
    ...(effects.result ? { result: effects.result } : {}),
  });
  change.events.push({ type: 'job-retrying', job });
  return change;
}

/** Attempts a job may lose to dying workers beyond its own retries. */
export const LOST_ATTEMPTS_ALLOWED = 2;

/**
 * A running attempt whose worker died: tried again at once, beyond the job's
 * own retries by LOST_ATTEMPTS_ALLOWED; then the run fails (worker_lost).
 */
export function loseJob(
  run: RunFacts,
  job: JobFacts | undefined,
  key: JobKey,
  rules: JobRules,
  why: string,
): ChangeSet | null {
  if (!job || !isRunningAttempt(run, job, key)) return null;
  if (counted(job) <= rules.retries + LOST_ATTEMPTS_ALLOWED)
    return summarized(retryJob(run, job, `worker_lost: ${why}`, null, 0), rules, job.name);
  return summarized(
    failRun(run, job, rules, {
      ok: false,
      reason: 'worker_lost',
      message: `was lost with its worker (${why})`,
      exitCode: null,
    }),
    rules,
    job.name,
  );
}

/** The `statusReason` of the instances a run's end stopped (what a resume opens again). */
export const STOPPED_BECAUSE = { failed: 'run failed', cancelled: 'cancelled' } as const;

/**
 * A failed or cancelled run is resumed in place (DAGMan's rescue DAG, Argo's
 * retry, CONTRACT 5.4): completed jobs and jobs skipped for a reason of their
 * own are kept with their attempts and outputs; failed, removed and
 * never-started ones become idle (attempt counters go on); the run is
 * submitted again and its event sequence goes on with `resumed`. A 409 from
 * any other state. (Whether the request is sealed, and whether the run's
 * directory is still there, the caller checks: they are not run facts.)
 */
export function resumeRun(
  run: RunFacts,
  actor: EventActor | null = null,
  gates: readonly string[] = [],
): ChangeSet {
  const change = empty();
  change.run = {
    state: transitionRun(run.id, run.state, 'resume'),
    resumed: true,
  };
  change.reopen = {
    skippedBecause: [STOPPED_BECAUSE.failed, STOPPED_BECAUSE.cancelled],
    ...(gates.length > 0 ? { gates } : {}),
  };
  change.events.push({ type: 'resumed' });
  change.actor = actor;
  return change;
}

/** The run is cancelled: its running instances are stopped (each announced), the rest removed. */
export function cancelRun(
  run: RunFacts,
  running: readonly JobFacts[],
  actor: EventActor,
): ChangeSet {
  const change = empty();
  const state = transitionRun(run.id, run.state, 'cancel');
  for (const job of running) {
    change.jobs.push({
      name: job.name,
      index: job.index,
      action: 'cancel',
      state: transitionJob(keyOf(run.id, job), job.state, 'cancel'),
      attempts: job.attempts,
      exitCode: null,
      statusReason: 'cancelled',
      finished: true,
    });
    change.events.push({ type: 'job-failed', job });
  }
  change.stopLive = {
    reason: STOPPED_BECAUSE.cancelled,
    idle: 'removed',
    states: ['idle', 'held', 'waiting'],
    clearFinish: false,
  };
  change.run = {
    state,
    finished: true,
    error: { code: 'cancelled', message: `cancelled by ${actor.name}` },
  };
  change.events.push({ type: 'cancelled' });
  change.actor = actor;
  if (run.ingests) change.settleSource = 'failed';
  return change;
}

/**
 * Holds an instance (condor_hold): an idle one will not start until released;
 * a running one is stopped and held, its attempt not counted as a failure.
 * The scheduler holds what no live worker could ever run
 * (`no_matching_worker: ...`); an operator's reason reads
 * `held_by_operator: <reason>`. A 409 from any other state.
 */
export function holdJob(
  run: RunFacts,
  job: JobFacts,
  reason: string,
  actor: EventActor | null = null,
): ChangeSet {
  const change = empty();
  const state = transitionJob(keyOf(run.id, job), job.state, 'hold');
  if (!live(run)) throw notLive(run, job, 'hold');
  const running = job.state === 'running';
  change.jobs.push({
    name: job.name,
    index: job.index,
    action: 'hold',
    state,
    attempts: job.attempts,
    exitCode: null,
    statusReason: reason,
    ...(running ? { finished: true as const, uncountAttempt: true as const } : {}),
  });
  if (running)
    change.stopAttempts.push({ name: job.name, index: job.index, attempt: job.attempts });
  change.events.push({ type: 'job-held', job });
  change.actor = actor;
  return change;
}

/** A held instance goes back to idle (condor_release): it starts when the scheduler places it. */
export function releaseJob(
  run: RunFacts,
  job: JobFacts,
  actor: EventActor | null = null,
): ChangeSet {
  const change = empty();
  const state = transitionJob(keyOf(run.id, job), job.state, 'release');
  if (!live(run)) throw notLive(run, job, 'release');
  change.jobs.push({
    name: job.name,
    index: job.index,
    action: 'release',
    state,
    attempts: job.attempts,
    exitCode: null,
    statusReason: null,
  });
  change.events.push({ type: 'job-released', job });
  change.actor = actor;
  return change;
}

const notLive = (run: RunFacts, job: JobFacts, action: string) =>
  conflict(
    'RUN_NOT_ACTIVE',
    `Run ${run.id} is ${run.state}: cannot ${action} its job ${job.name}[${job.index}].`,
    { runId: run.id, state: run.state, job: job.name, index: job.index },
  );

function retryJob(
  run: RunFacts,
  job: JobFacts,
  reason: string,
  exitCode: number | null,
  delayMs: number,
): ChangeSet {
  const change = empty();
  change.jobs.push({
    name: job.name,
    index: job.index,
    action: 'retry',
    state: transitionJob(keyOf(run.id, job), job.state, 'retry'),
    attempts: job.attempts,
    exitCode,
    statusReason: reason,
    finished: true,
    retryAfterMs: delayMs,
  });
  change.events.push({ type: 'job-retrying', job });
  return change;
}

/** A job failed for good: the run fails naming it; the rest of the run stops. */
function failRun(
  run: RunFacts,
  job: JobFacts,
  rules: JobRules,
  verdict: Exclude<JobVerdict, { ok: true }>,
): ChangeSet {
  const change = empty();
  change.jobs.push({
    name: job.name,
    index: job.index,
    action: 'fail',
    state: transitionJob(keyOf(run.id, job), job.state, 'fail'),
    attempts: job.attempts,
    exitCode: verdict.exitCode,
    statusReason: `${verdict.reason}: ${verdict.message}`,
    finished: true,
  });
  const label = rules.scatter ? `${rules.name}[${job.index}]` : rules.name;
  change.events.push({ type: 'job-failed', job });
  stopTheRun(run, change, { code: verdict.reason, message: `job ${label} ${verdict.message}` });
  return change;
}

/**
 * A person approves a waiting gate (CONTRACT 5.4): the gate job completes
 * (`gate-approved`, with the actor and comment) and the pipeline goes on;
 * `parameters`, already validated and merged by the caller, become the run's
 * for every job not yet started. A 409 when the gate is not waiting.
 */
export function approveGate(
  run: RunFacts,
  job: JobFacts,
  groups: readonly GroupFacts[],
  decision: { actor: EventActor; comment: string | null; parameters?: Record<string, unknown> },
): ChangeSet {
  if (!live(run)) throw notLive(run, job, 'approve');
  const gate = groups.find((g) => g.name === job.name)?.gate;
  // A run resumed at a gate is still submitted: the approval is what starts it again.
  const starting = run.state === 'submitted';
  const facts: RunFacts = {
    ...run,
    ...(starting ? { state: transitionRun(run.id, run.state, 'start') } : {}),
    ...(decision.parameters ? { parameters: decision.parameters } : {}),
  };
  const change = completeJob(
    facts,
    job,
    groups,
    null,
    {},
    {
      action: 'approve',
      event: {
        type: 'gate-approved',
        job,
        gate: { prompt: gate?.prompt ?? '', comment: decision.comment },
      },
    },
  );
  if (decision.parameters) change.run = { ...(change.run ?? {}), parameters: decision.parameters };
  if (starting) {
    change.run = { state: facts.state, ...(change.run ?? {}), started: true };
    change.events.unshift({ type: 'running' });
  }
  change.actor = decision.actor;
  return change;
}

/**
 * A person rejects a waiting gate (CONTRACT 5.4): the gate job fails
 * (`statusReason: rejected`), the run fails with `GATE_REJECTED`
 * (`gate-rejected`, then `failed`); a resume opens the gate again.
 */
export function rejectGate(
  run: RunFacts,
  job: JobFacts,
  groups: readonly GroupFacts[],
  decision: { actor: EventActor; comment: string | null },
): ChangeSet {
  if (!live(run)) throw notLive(run, job, 'reject');
  const gate = groups.find((g) => g.name === job.name)?.gate;
  const change = empty();
  change.jobs.push({
    name: job.name,
    index: job.index,
    action: 'reject',
    state: transitionJob(keyOf(run.id, job), job.state, 'reject'),
    attempts: job.attempts,
    exitCode: null,
    statusReason: 'rejected',
    finished: true,
  });
  const why = decision.comment ? `: ${decision.comment}` : '';
  change.events.push({
    type: 'gate-rejected',
    job,
    gate: { prompt: gate?.prompt ?? '', comment: decision.comment },
  });
  stopTheRun(run, change, {
    code: 'GATE_REJECTED',
    message: `gate ${job.name} was rejected by ${decision.actor.name}${why}`,
  });
  change.actor = decision.actor;
  return change;
}

/**
 * The groups whose needs are all done are released, unless their `when`
 * does not hold: then all their instances are skipped and the group counts
 * as done, which may make more groups ready (checked again, in order, until
 * nothing changes). Returns the groups as they are after it.
 */
export function releaseOrSkip(
  run: RunFacts,
  groups: readonly GroupFacts[],
  change: ChangeSet,
): GroupFacts[] {
  let current = [...groups];
  for (;;) {
    const complete = new Set(current.filter(groupDone).map((g) => g.name));
    const released = new Set(current.filter((g) => g.released).map((g) => g.name));
    const ready = readyGroups(current, complete, released);
    if (ready.length === 0) return current;
    let skipped = false;
    for (const name of ready) {
      const g = current.find((x) => x.name === name) as GroupFacts;
      let next: GroupFacts;
      if ((!g.when || whenHolds(g.when, run, current)) && g.gate) {
        // A gate is not placed on a worker: it waits for a person (CONTRACT 5.4).
        next = { ...g, released: true };
        change.jobs.push({
          name,
          index: 0,
          action: 'open',
          state: transitionJob({ runId: run.id, name, index: 0 }, 'idle', 'open'),
          attempts: 0,
          exitCode: null,
          statusReason: null,
          // Waiting since now (its ready time, as for an idle instance).
          retryAfterMs: 0,
        });
        change.events.push({
          type: 'gate-waiting',
          job: { name, index: 0 },
          gate: { prompt: g.gate.prompt, comment: null },
        });
      } else if ((!g.when || whenHolds(g.when, run, current)) && g.planned === false) {
        // A dynamic scatter: its instances come from the result it names, now that it is done.
        const items = dynamicItems(g.scatter ?? {}, run.parameters ?? {}, resultsOf(current));
        const total = current.reduce((n, x) => n + x.instances, 0);
        const bad =
          'bad' in items
            ? items.bad
            : run.maxJobs !== undefined && total + items.length > run.maxJobs
              ? `it would make ${total + items.length} job instances in the run; the limit (WFS_MAX_JOBS_PER_RUN) is ${run.maxJobs}`
              : null;
        if (bad !== null) {
          failForScatter(run, name, bad, change);
          return current;
        }
        const list = items as ScatterItem[];
        next = { ...g, planned: true, instances: list.length, released: true };
        change.plan.push({ name, items: list });
        // No instances: done at once, like a skipped job.
        if (list.length === 0) skipped = true;
      } else if (!g.when || whenHolds(g.when, run, current)) {
        next = { ...g, released: true };
        change.release.push(name);
      } else {
        next = { ...g, released: true, skipped: true, completed: g.instances };
        change.skip.push({ name, reason: `when: ${g.when} is false` });
        skipped = true;
      }
      change.groups = [...change.groups.filter((x) => x.name !== name), next];
      current = current.map((x) => (x.name === name ? next : x));
    }
    if (!skipped) return current;
  }
}

/** A group is done when it is planned and every instance is (a skipped one counts as done). */
const groupDone = (g: GroupFacts): boolean => g.planned !== false && g.completed === g.instances;

/** What `when` and `repeat.until` read of the run's jobs: each one's state and (unscattered) result. */
function jobsScope(
  groups: readonly GroupFacts[],
): Record<string, { state: string; result: unknown }> {
  return Object.fromEntries(
    groups.map((g) => [
      g.name,
      {
        state: g.skipped ? 'skipped' : groupDone(g) ? 'completed' : 'pending',
        result: g.result ?? null,
      },
    ]),
  );
}

/** The results of the run's unscattered jobs, by name. */
const resultsOf = (groups: readonly GroupFacts[]): Record<string, unknown> =>
  Object.fromEntries(groups.map((g) => [g.name, g.result ?? null]));

/** A dynamic scatter that cannot be planned fails the run (`bad_scatter`, naming the job). */
function failForScatter(run: RunFacts, name: string, why: string, change: ChangeSet): void {
  change.release = [];
  stopTheRun(run, change, { code: 'bad_scatter', message: `job ${name} cannot scatter: ${why}` });
}

/**
 * The run fails: its other live instances stop (running ones removed, the
 * rest skipped), its error is set and `failed` is its last event; an
 * ingestion run's source learns it. The one way every failure ends a run.
 */
function stopTheRun(
  run: RunFacts,
  change: ChangeSet,
  error: { code: string; message: string },
): void {
  change.stopLive = {
    reason: STOPPED_BECAUSE.failed,
    idle: 'skipped',
    states: ['idle', 'running', 'held', 'waiting'],
    clearFinish: true,
  };
  change.run = {
    ...(change.run ?? {}),
    state: transitionRun(run.id, run.state, 'fail'),
    finished: true,
    // A submitted run can fail before any job started: it still gets a start time.
    ...(run.state === 'submitted' ? { started: true as const } : {}),
    error,
  };
  change.events.push({ type: 'failed' });
  if (run.ingests) change.settleSource = 'failed';
}

/** Whether a group's `when` holds over the run's parameters, subject and its jobs' states and results. */
function whenHolds(when: string, run: RunFacts, groups: readonly GroupFacts[]): boolean {
  return evaluate(parseExpression(when), {
    parameters: run.parameters ?? {},
    subject: run.subject ?? null,
    jobs: jobsScope(groups),
  });
}

function completeJob(
  run: RunFacts,
  job: JobFacts,
  groups: readonly GroupFacts[],
  exitCode: number | null,
  effects: RunEffects,
  how: { action: 'complete' | 'approve'; event: EventSpec } = {
    action: 'complete',
    event: { type: 'job-completed', job },
  },
): ChangeSet {
  const change = empty();
  change.jobs.push({
    name: job.name,
    index: job.index,
    action: how.action,
    state: transitionJob(keyOf(run.id, job), job.state, how.action),
    attempts: job.attempts,
    exitCode,
    statusReason: null,
    finished: true,
  });
  const runChange: RunChange = {};
  if (effects.processingDir) runChange.processingDir = effects.processingDir;
  if (effects.diskState)
    runChange.diskState = transitionDiskTo(run.id, run.diskState, effects.diskState);
  if (effects.products) runChange.products = effects.products;
  if (effects.sources) change.sourceChanges = effects.sources;
  if (effects.result) change.jobs[0] = { ...(change.jobs[0] as JobChange), result: effects.result };
  change.events.push(how.event);
  // An unscattered job's result is its group's too: what later jobs' `when` reads.
  let next = groups.map((g) =>
    g.name === job.name
      ? {
          ...g,
          completed: g.completed + 1,
          ...(g.instances === 1 && effects.result ? { result: effects.result } : {}),
        }
      : g,
  );
  const group = next.find((g) => g.name === job.name);
  if (group) {
    change.groups.push(group);
    if (groupDone(group)) {
      next = releaseOrSkip(run, next, change);
      if (next.every(groupDone)) {
        runChange.state = transitionRun(run.id, run.state, 'complete');
        runChange.finished = true;
        const qa = transitionQa(run.id, run.qaState, 'complete');
        if (qa !== run.qaState) runChange.qaState = qa;
        change.events.push({ type: 'complete', products: true });
        if (run.ingests) change.settleSource = 'ingested';
      }
    }
  }
  // What the cascade decided (a run failed by a dynamic scatter) stands over the step's own effects.
  if (Object.keys(runChange).length > 0) change.run = { ...runChange, ...(change.run ?? {}) };
  return change;
}
