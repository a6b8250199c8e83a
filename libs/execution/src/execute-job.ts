import * as path from 'node:path';
import {
  fileSafeSubject,
  JobDefinition,
  JobKey,
  JobObservation,
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
  RunDirs,
  Roots,
  runDirs,
} from '@wfs/storage';
import type { Archive } from '@wfs/archive';
import { Builtin, BuiltinRun, BUILTINS } from './builtins';
import { findSevereLine } from './casa-logs';
import { Executor } from './executor';
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

/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Environment a job sees: a clean one, never the service's own secrets. */
const BASE_ENV_KEYS = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/** What a finished attempt observed, before the CASA log and the outputs are looked at. */
type Outcome = Omit<JobObservation, 'firstSevereLine' | 'missingOutputs'>;

/** A path's result: what it observed, or why the process could not be started. */
type Ran = { outcome: Outcome; effects: RunEffects } | { refused: string };

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
    const { verdict, exitCode, effects } = await this.run(key, claimed);
    // The outcome of a job that ran is precious: keep trying through a database outage.
    await persist(() => this.lifecycle.finish(key, verdict, exitCode, effects), FINISH_PATIENCE_MS);
  }

  private async run(key: JobKey, claimed: ClaimedJob) {
    const attempt = this.prepare(claimed);
    const { def } = attempt;
    const builtin = BUILTINS[def.executable];
    const ran = builtin
      ? await this.runBuiltin(key, builtin, attempt, claimed)
      : await this.runProcess(key, attempt, claimed);
    if ('refused' in ran) {
      return { verdict: spawnFailure(def.success, ran.refused), exitCode: null, effects: {} };
    }
    return this.judge(attempt, ran.outcome, ran.effects);
  }

  /** What both paths share: the template context, the arguments, the banner, the logs, the timeout. */
  private prepare(claimed: ClaimedJob): Attempt {
    const { run, job, jobDefinition: def } = claimed;
    const dirs = runDirs(run.processing_dir as string);
    const context: TemplateContext = {
      runId: Number(run.id),
      version: run.version,
      workflow: run.workflow,
      subject: run.subject ?? '',
      fileSafeSubject: run.subject === null ? '' : fileSafeSubject(run.subject),
      parameters: run.parameters,
      dirs,
      item: job.item ?? {},
      index: job.idx,
    };
    const args = def.arguments.map((a) => render(a, context));
    const started = new Date();
    const banner = `--- ${def.name}[${job.idx}] attempt ${job.attempts} on ${this.limits.hostname} at ${started.toISOString()}`;
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
        source: claimed.source ? builtinRun(claimed.source.run, claimed.source.definition) : null,
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
    const { run, job } = claimed;
    const { def, dirs, context, args, banner, logs, timeoutMs } = attempt;
    let executable: string;
    try {
      executable = this.tools.resolve(def.executable);
    } catch (e) {
      return { refused: (e as Error).message };
    }
    const env: Record<string, string> = {};
    for (const k of BASE_ENV_KEYS) if (process.env[k]) env[k] = process.env[k] as string;
    for (const [k, v] of Object.entries(def.env)) env[k] = render(v, context);
    Object.assign(env, {
      WFS_RUN_ID: String(run.id),
      WFS_JOB: job.name,
      WFS_JOB_INDEX: String(job.idx),
      WFS_ATTEMPT: String(job.attempts),
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
    const stopProcess = new AbortController();
    const outcome = await this.executor.run({
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

  /** The verdict, from what either path observed: exit, CASA log severity, the declared outputs. */
  private async judge(attempt: Attempt, outcome: Outcome, effects: RunEffects) {
    const { def, dirs, context, started, logs } = attempt;
    const root = effects.processingDir ?? dirs.root;
    const ended = outcome.exitCode === 0 && !outcome.cancelled && !outcome.timedOut;
    const observation: JobObservation = {
      ...outcome,
      firstSevereLine:
        ended && def.success === 'casa'
          ? await findSevereLine(runDirs(root).working, [logs.stdout, logs.stderr], started)
          : null,
      missingOutputs: ended
        ? def.outputs.map((o) => render(o, context)).filter((o) => !this.outputExists(root, o))
        : [],
    };
    return { verdict: judgeJob(def.success, observation), exitCode: outcome.exitCode, effects };
  }

  /** Outputs are relative to the run directory and may not point out of it. */
  private outputExists(root: string, output: string): boolean {
    const target = path.resolve(root, output);
    return containedIn([root], target) !== null && entryKind(target) !== null;
  }
}
