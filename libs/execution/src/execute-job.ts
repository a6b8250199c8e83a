import * as path from 'node:path';
import { Logger } from '@nestjs/common';
import {
  fileSafeSubject,
  JobDefinition,
  JobKey,
  JobObservation,
  BATCH_WORK,
  handedToBatch,
  jobRequests,
  JobVerdict,
  judgeJob,
  render,
  TemplateContext,
  WfsError,
  WorkflowDefinition,
} from '@wfs/domain';
import { ClaimedJob, JobLifecycle, RunEffects, RunRow } from '@wfs/runs';
import {
  appendIn,
  containedIn,
  ensureDir,
  entryKind,
  jobLogName,
  jobLogPath,
  openRead,
  removeFile,
  RunDirs,
  Roots,
  runDirs,
} from '@wfs/storage';
import type { Archive } from '@wfs/archive';
import { Builtin, BuiltinRun, BUILTINS } from './builtins';
import { findSevereLine } from './casa-logs';
import { Executor, ProcessOutcome, ProcessSpec } from './executor';
import { WORKER_ENV } from './orphans';
import { ToolMap } from './tools';

const builtinRun = (run: RunRow, definition: WorkflowDefinition): BuiltinRun => ({
  id: Number(run.id),
  workflow: run.workflow,
  subject: run.subject,
  parameters: run.parameters,
  definition,
  dirs: runDirs(run.processing_dir as string),
  resultsDir: run.results_dir,
});

/** The verdict on a job whose process could not be started (no tool, an unsafe directory). */
const spawnFailure = (success: WorkflowDefinition['jobs'][number]['success'], message: string) =>
  judgeJob(success, {
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: false,
    spawnError: message,
    firstSevereLine: null,
    missingOutputs: [],
  });

/** How long a worker keeps trying to record a finished job while the database is away. */
const FINISH_PATIENCE_MS = 10 * 60_000;

async function persist<T>(fn: () => Promise<T>, patienceMs: number): Promise<T> {
  const deadline = Date.now() + patienceMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof WfsError || Date.now() + delay > deadline) throw e;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** The largest result a job may write. */
const MAX_RESULT_BYTES = 64 * 1024;

const resultName = (job: string, index: number) => `${job}.${index}.result.json`;

/** The result file of an instance: absent (null), one JSON object, or why it is not. */
async function readResult(
  dir: string,
  name: string,
): Promise<{ result: Record<string, unknown> | null } | { bad: string }> {
  const handle = await openRead(dir, name).catch((e: unknown) => e as Error);
  if (handle instanceof Error) return { bad: `cannot read its result ${name}: ${handle.message}` };
  if (!handle) return { result: null };
  try {
    const { size } = await handle.stat();
    if (size > MAX_RESULT_BYTES)
      return { bad: `its result ${name} is ${size} bytes, over the 64 KiB a result may have` };
    const text = (await handle.readFile()).toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return { bad: `its result ${name} is not JSON (${(e as Error).message})` };
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      return { bad: `its result ${name} is not a JSON object` };
    return { result: value as Record<string, unknown> };
  } finally {
    await handle.close();
  }
}

/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Environment a job sees: a clean one, never the service's own secrets. */
const BASE_ENV_KEYS = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** What a finished attempt observed, before the CASA log and the outputs are looked at. */
type Outcome = Omit<JobObservation, 'firstSevereLine' | 'missingOutputs'>;

/** A path's result: what it observed, or why the process could not be started. */
type Ran = { outcome: Outcome; effects: RunEffects } | { refused: string };

/** What becomes of an attempt once its process (or batch job) is over. */
type Settlement =
  | { kind: 'finish'; verdict: JobVerdict; exitCode: number | null; effects: RunEffects }
  /** Its batch job's node failed, or it was evicted: tried again as worker_lost. */
  | { kind: 'lose'; why: string }
  /** The batch system holds it: the job is held with the batch system's reason. */
  | { kind: 'hold'; reason: string }
  /** The worker let go of it at shutdown; the batch system runs it on, the next submit host re-attaches. */
  | { kind: 'detached' };

/** One attempt, as both paths see it. */
interface Attempt {
  def: JobDefinition;
  dirs: RunDirs;
  context: TemplateContext;
  args: string[];
  started: Date;
  banner: string;
  logs: { stdout: string; stderr: string };
  timeoutMs: number;
}

/**
 * The worker's handler for one queued job: claim it in Postgres, run it,
 * judge it, record the outcome. Safe to call twice with the same key: the
 * claim lets only one attempt through.
 */
export class ExecuteJob {
  private readonly log = new Logger('job');
  /** Told of every attempt that ended with an outcome (the worker's metrics). */
  onFinished: ((workflow: string, job: string, seconds: number) => void) | null = null;

  constructor(
    private readonly lifecycle: JobLifecycle,
    private readonly executor: Executor,
    private readonly tools: ToolMap,
    private readonly roots: Roots,
    private readonly limits: { maxJobTimeoutSeconds: number; hostname: string },
    private readonly archive: Archive,
  ) {}

  async handle(key: JobKey): Promise<void> {
    const claimed = await this.lifecycle.claim(key);
    if (!claimed) return;
    this.log.log({ msg: 'job started', ...this.fields(key, claimed) });
    await this.settle(key, await this.run(key, claimed), claimed);
  }

  /** The fields of every line about an attempt (CONTRACT 5.1). */
  private fields(key: JobKey, claimed: ClaimedJob) {
    return {
      runId: key.runId,
      workflow: claimed.run.workflow,
      job: key.name,
      index: key.index,
      attempt: key.attempt,
      workerId: this.lifecycle.workerId,
    };
  }

  /**
   * Follows to its end an attempt a submit host that died (or restarted) had
   * handed to the batch system, without submitting it again (the recovery
   * gave it to this worker). A null id: it died before recording one, and the
   * attempt is looked for by its name.
   */
  async reattach(key: JobKey, clusterJobId: string | null): Promise<void> {
    if (!this.executor.attach) return;
    const claimed = await this.lifecycle.attempt(key);
    if (!claimed) return;
    this.log.log({ msg: 'job re-attached', ...this.fields(key, claimed), clusterJobId });
    const attempt = this.prepare(claimed, await this.resultsFor(claimed));
    const spec = this.processSpec(key, attempt, claimed);
    if ('refused' in spec) {
      const verdict = spawnFailure(attempt.def.success, spec.refused);
      return this.settle(key, { kind: 'finish', verdict, exitCode: null, effects: {} }, claimed);
    }
    const outcome = await this.executor.attach(spec, clusterJobId);
    await this.settle(key, await this.judge(attempt, outcome, {}), claimed);
  }

  /** The outcome of a job that ran is precious: keep trying through a database outage. */
  private async settle(key: JobKey, s: Settlement, claimed: ClaimedJob): Promise<void> {
    const fields = this.fields(key, claimed);
    if (s.kind === 'detached') {
      this.log.log({ msg: 'job left running in the cluster', ...fields });
      return;
    }
    await persist(
      () =>
        s.kind === 'finish'
          ? this.lifecycle.finish(key, s.verdict, s.exitCode, s.effects)
          : s.kind === 'lose'
            ? this.lifecycle.lose(key, s.why)
            : this.lifecycle.holdRunning(key, s.reason),
      FINISH_PATIENCE_MS,
    );
    const started = claimed.job.started_at ? new Date(claimed.job.started_at).getTime() : NaN;
    const seconds = Number.isFinite(started) ? Math.max(0, (Date.now() - started) / 1000) : null;
    const took = seconds === null ? {} : { durationS: Math.round(seconds * 1000) / 1000 };
    if (s.kind === 'lose') this.log.warn({ msg: `job lost: ${s.why}`, ...fields, ...took });
    else if (s.kind === 'hold') this.log.warn({ msg: `job held: ${s.reason}`, ...fields, ...took });
    else {
      if (seconds !== null) this.onFinished?.(claimed.run.workflow, key.name, seconds);
      if (s.verdict.ok)
        this.log.log({ msg: 'job completed', ...fields, ...took, exitCode: s.exitCode });
      else
        // The lifecycle decides whether it is tried again (retries, backoff) or fails the run.
        this.log.warn({
          msg: `job attempt failed: ${s.verdict.reason}: ${s.verdict.message}`,
          ...fields,
          ...took,
          reason: s.verdict.reason,
          exitCode: s.exitCode,
          retries: claimed.jobDefinition.retries,
        });
    }
  }

  private async run(key: JobKey, claimed: ClaimedJob): Promise<Settlement> {
    const attempt = this.prepare(claimed, await this.resultsFor(claimed));
    const { def } = attempt;
    const builtin = this.inProcess(def.executable) ? BUILTINS[def.executable] : undefined;
    const ran = builtin
      ? await this.runBuiltin(key, builtin, attempt, claimed)
      : await this.runProcess(key, attempt, claimed);
    if ('refused' in ran) {
      return {
        kind: 'finish',
        verdict: spawnFailure(def.success, ran.refused),
        exitCode: null,
        effects: {},
      };
    }
    return this.judge(attempt, ran.outcome, ran.effects);
  }

  /**
   * Whether a step runs in the worker: every builtin with the local executor;
   * with a batch executor the stand-in for computing (`builtin:work`) goes to
   * the cluster as the process it stands for, the service's own steps (moves,
   * archive calls) stay on the submit host.
   */
  private inProcess(executable: string): boolean {
    const batch = this.executor.kind === 'local' ? null : this.executor.kind;
    return !!BUILTINS[executable] && !handedToBatch(executable, batch);
  }

  /** Earlier jobs' results, read only for a job whose arguments, env or outputs name them. */
  private async resultsFor(claimed: ClaimedJob): Promise<TemplateContext['jobs']> {
    const def = claimed.jobDefinition;
    const uses = [...def.arguments, ...Object.values(def.env), ...def.outputs].some((t) =>
      /\{\{\s*jobs\./.test(t),
    );
    return uses ? this.lifecycle.resultsOf(Number(claimed.run.id)) : undefined;
  }

  /** What both paths share: the template context, the arguments, the banner, the logs, the timeout. */
  private prepare(claimed: ClaimedJob, jobs?: TemplateContext['jobs']): Attempt {
    const { run, job, jobDefinition: def } = claimed;
    const dirs = runDirs(run.processing_dir as string);
    const context: TemplateContext = {
      runId: Number(run.id),
      version: run.version,
      workflow: run.workflow,
      subject: run.subject ?? '',
      fileSafeSubject: run.subject === null ? '' : fileSafeSubject(run.subject),
      parameters: run.parameters,
      dirs: { ...dirs, result: path.join(dirs.logs, resultName(job.name, job.idx)) },
      item: job.item ?? {},
      index: job.idx,
      round: job.round ?? 1,
      ...(jobs ? { jobs } : {}),
    };
    const args = def.arguments.map((a) => render(a, context));
    // The claim's time (also for an attempt adopted from a dead submit host: its CASA log lines count from then).
    const started = job.started_at ? new Date(job.started_at) : new Date();
    const via =
      this.inProcess(def.executable) || this.executor.kind === 'local'
        ? `on ${this.limits.hostname}`
        : `via ${this.executor.kind} from ${this.limits.hostname}`;
    const banner = `--- ${def.name}[${job.idx}] attempt ${job.attempts} ${via} at ${started.toISOString()}`;
    const logs = {
      stdout: jobLogPath(dirs, job.name, job.idx, 'stdout'),
      stderr: jobLogPath(dirs, job.name, job.idx, 'stderr'),
    };
    // setTimeout fires at once beyond 2^31-1 ms (~24.8 days): clamp, never "time out" immediately.
    const timeoutMs = Math.min(
      def.timeout * 1000,
      this.limits.maxJobTimeoutSeconds * 1000,
      MAX_TIMER_MS,
    );
    return { def, dirs, context, args, started, banner, logs, timeoutMs };
  }

  /** An in-process step: run in the worker, its log lines appended to the job's stdout log. */
  private async runBuiltin(
    key: JobKey,
    builtin: Builtin,
    attempt: Attempt,
    claimed: ClaimedJob,
  ): Promise<Ran> {
    const { run, job } = claimed;
    const { dirs, args, banner, timeoutMs } = attempt;
    let outcome: Outcome;
    let effects: RunEffects = {};
    const lines: string[] = [banner];
    // In-process steps obey cancel and timeout as processes do: through their signal.
    const aborter = new AbortController();
    const stoppedBy = { cancel: false, timeout: false };
    // Tracked under its attempt too: an operator's hold stops it (STOP_CHANNEL).
    const untrack = this.executor.trackInProcess(
      Number(run.id),
      () => {
        stoppedBy.cancel = true;
        aborter.abort();
      },
      key,
    );
    const timer = setTimeout(() => {
      stoppedBy.timeout = true;
      aborter.abort();
    }, timeoutMs);
    // A step that finished its work anyway (exit 0, e.g. a move that completed) keeps its result.
    const observed = (exitCode: number) => ({
      exitCode,
      signal: null,
      timedOut: stoppedBy.timeout && exitCode !== 0,
      cancelled: stoppedBy.cancel && exitCode !== 0,
      spawnError: null,
    });
    try {
      const result = await builtin({
        dirs,
        args,
        roots: this.roots,
        signal: aborter.signal,
        log: (l) => lines.push(l),
        run: builtinRun(run, claimed.definition),
        sources: claimed.sources.map((s) => builtinRun(s.run, s.definition)),
        archive: this.archive,
      });
      effects = result.effects ?? {};
      outcome = observed(result.exitCode);
    } catch (e) {
      lines.push(`error: ${(e as Error).message}`);
      outcome = observed(1);
    } finally {
      clearTimeout(timer);
      untrack();
    }
    if (lines.length > 1) {
      const finalLogs = runDirs(effects.processingDir ?? dirs.root);
      await appendIn(
        finalLogs.logs,
        finalLogs.root,
        jobLogName(job.name, job.idx, 'stdout'),
        lines.join('\n') + '\n',
      ).catch(() => undefined);
    }
    return { outcome, effects };
  }

  /** A tool: a child process through the executor, in the run's working directory. */
  private async runProcess(key: JobKey, attempt: Attempt, claimed: ClaimedJob): Promise<Ran> {
    const spec = this.processSpec(key, attempt, claimed);
    if ('refused' in spec) return spec;
    // A result is this attempt's own: an earlier attempt's file is not read as it.
    await removeFile(attempt.context.dirs.result as string).catch(() => undefined);
    const stopProcess = new AbortController();
    const outcome = await this.executor.run({
      ...spec,
      // A cancel committed after the claim but before the spawn found no process to kill: stop it here.
      onStart: (pid) =>
        void this.lifecycle
          .recordPid(key, pid)
          .then((running) => running || stopProcess.abort())
          .catch(() => undefined),
      signal: stopProcess.signal,
    });
    return { outcome, effects: {} };
  }

  /** What the executor is given for a tool's attempt, or why it cannot be started. */
  private processSpec(
    key: JobKey,
    attempt: Attempt,
    claimed: ClaimedJob,
  ): ProcessSpec | { refused: string } {
    const { run, job } = claimed;
    const { def, dirs, context, args, banner, logs, timeoutMs } = attempt;
    let executable: string;
    try {
      executable = BATCH_WORK[def.executable] ?? this.tools.resolve(def.executable);
    } catch (e) {
      return { refused: (e as Error).message };
    }
    const env: Record<string, string> = {};
    for (const k of BASE_ENV_KEYS) if (process.env[k]) env[k] = process.env[k] as string;
    for (const [k, v] of Object.entries(def.env)) env[k] = render(v, context);
    Object.assign(env, {
      WFS_RESULT_FILE: context.dirs.result as string,
      WFS_RUN_ID: String(run.id),
      WFS_JOB: job.name,
      WFS_JOB_INDEX: String(job.idx),
      WFS_ATTEMPT: String(job.attempts),
      WFS_ROUND: String(job.round ?? 1),
    });
    // Marks the process (and what it starts) as this worker's: if the worker dies before the pid is
    // recorded, the recovery still finds and stops it before the job is tried again.
    env[WORKER_ENV] = this.lifecycle.workerId;
    // The tool writes where its run directory leads: never through a link planted there.
    try {
      this.roots.checkRunDirs(dirs);
      ensureDir(dirs.working, dirs.root);
      ensureDir(dirs.logs, dirs.root);
    } catch (e) {
      return { refused: (e as Error).message };
    }
    return {
      runId: Number(run.id),
      key,
      executable,
      args,
      cwd: dirs.working,
      env,
      timeoutMs,
      stdoutPath: logs.stdout,
      stderrPath: logs.stderr,
      banner,
      requests: jobRequests(def),
      workDir: dirs.logs,
      job: { name: job.name, index: job.idx },
    };
  }

  /** The verdict, from what either path observed: exit, CASA log severity, the declared outputs. */
  private async judge(
    attempt: Attempt,
    outcome: Outcome & Pick<ProcessOutcome, 'batchEnd' | 'detached'>,
    effects: RunEffects,
  ): Promise<Settlement> {
    if (outcome.detached) return { kind: 'detached' };
    const end = outcome.batchEnd;
    if (end?.kind === 'lost') return { kind: 'lose', why: end.message };
    if (end?.kind === 'held') return { kind: 'hold', reason: end.message };
    const { def, dirs, context, started, logs } = attempt;
    const root = effects.processingDir ?? dirs.root;
    const ended = outcome.exitCode === 0 && !outcome.cancelled && !outcome.timedOut;
    const observation: JobObservation = {
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      timedOut: outcome.timedOut,
      cancelled: outcome.cancelled,
      spawnError: outcome.spawnError,
      batchFailure: end ? { reason: end.kind, message: end.message } : null,
      firstSevereLine:
        ended && def.success === 'casa'
          ? await findSevereLine(runDirs(root).working, [logs.stdout, logs.stderr], started)
          : null,
      missingOutputs: ended
        ? def.outputs.map((o) => render(o, context)).filter((o) => !this.outputExists(root, o))
        : [],
    };
    let verdict = judgeJob(def.success, observation);
    if (verdict.ok) {
      // What it found, for later jobs' `when` (WORKFLOWS v1.1): one JSON object, at most 64 KiB.
      const read = await readResult(runDirs(root).logs, resultName(def.name, context.index));
      if ('bad' in read)
        verdict = {
          ok: false,
          reason: 'bad_result',
          message: read.bad,
          exitCode: outcome.exitCode,
        };
      else if (read.result) effects = { ...effects, result: read.result };
    }
    return { kind: 'finish', verdict, exitCode: outcome.exitCode, effects };
  }

  /** Outputs are relative to the run directory and may not point out of it. */
  private outputExists(root: string, output: string): boolean {
    const target = path.resolve(root, output);
    return containedIn([root], target) !== null && entryKind(target) !== null;
  }
}
