import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobKey } from '@wfs/domain';
import { openAppend } from '@wfs/storage';
import { Executor, ProcessOutcome, ProcessSpec } from './executor';

const openLog = (file: string) => openAppend(path.dirname(file), path.basename(file));

const KILL_GRACE_MS = 3000;

/** A process group this executor started, or in-process work registered with trackInProcess. */
interface Running {
  key?: JobKey;
  stop: () => void;
  cancelled: boolean;
  done: Promise<void>;
}

/** Runs jobs as child processes of this worker, each in its own process group. */
export class LocalExecutor implements Executor {
  readonly kind = 'local' as const;
  private readonly byRun = new Map<number, Set<Running>>();

  async run(spec: ProcessSpec): Promise<ProcessOutcome> {
    let stdout: fs.WriteStream;
    let stderr: fs.WriteStream;
    try {
      // Opened without following links, and checked to be in the run's logs/.
      stdout = (await openLog(spec.stdoutPath)).createWriteStream();
      stderr = await openLog(spec.stderrPath)
        .then((h) => h.createWriteStream())
        .catch(async (e: unknown) => {
          await closeStream(stdout);
          throw e;
        });
    } catch (e) {
      return {
        exitCode: null,
        signal: null,
        timedOut: false,
        cancelled: false,
        spawnError: `cannot open the job's log: ${(e as Error).message}`,
      };
    }
    stdout.write(spec.banner + '\n');
    stderr.write(spec.banner + '\n');
    let child: ChildProcess;
    try {
      child = spawn(spec.executable, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        detached: true, // its own process group: cancel and timeout kill the whole tree
        stdio: ['ignore', 'pipe', 'pipe'],
        shell: false,
      });
    } catch (e) {
      await Promise.all([closeStream(stdout), closeStream(stderr)]);
      return {
        exitCode: null,
        signal: null,
        timedOut: false,
        cancelled: false,
        spawnError: (e as Error).message,
      };
    }
    child.stdout?.pipe(stdout);
    child.stderr?.pipe(stderr);
    let timedOut = false;
    let spawnError: string | null = null;
    let resolveDone!: () => void;
    const entry: Running = {
      key: spec.key,
      stop: () => killGroup(child),
      cancelled: false,
      done: new Promise((r) => (resolveDone = r)),
    };
    this.track(spec.runId, entry);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, spec.timeoutMs);
    const stop = () => {
      entry.cancelled = true;
      entry.stop();
    };
    if (spec.signal?.aborted) stop();
    else spec.signal?.addEventListener('abort', stop, { once: true });
    if (child.pid !== undefined) spec.onStart?.(child.pid);
    const outcome = await new Promise<ProcessOutcome>((resolve) => {
      child.once('error', (e) => {
        spawnError = e.message;
      });
      child.once('close', (code, signal) => {
        resolve({ exitCode: code, signal, timedOut, cancelled: entry.cancelled, spawnError });
      });
    });
    clearTimeout(timer);
    spec.signal?.removeEventListener('abort', stop);
    this.untrack(spec.runId, entry);
    await Promise.all([closeStream(stdout), closeStream(stderr)]);
    resolveDone();
    return outcome;
  }

  cancelRun(runId: number): number {
    const running = this.byRun.get(runId);
    if (!running) return 0;
    const size = running.size;
    for (const r of [...running]) {
      r.cancelled = true;
      r.stop();
    }
    return size;
  }

  trackInProcess(runId: number, stop: () => void, key?: JobKey): () => void {
    let resolveDone!: () => void;
    const entry: Running = {
      key,
      stop,
      cancelled: false,
      done: new Promise((r) => (resolveDone = r)),
    };
    this.track(runId, entry);
    return () => {
      this.untrack(runId, entry);
      resolveDone();
    };
  }

  attempts(): JobKey[] {
    return this.all().flatMap((r) => (r.key ? [r.key] : []));
  }

  stopAttempts(keys: readonly JobKey[]): number {
    const wanted = new Set(keys.map(attemptId));
    // One being stopped already (a cancel) is left to its kill.
    const hit = this.all().filter((r) => r.key && !r.cancelled && wanted.has(attemptId(r.key)));
    for (const r of hit) {
      r.cancelled = true;
      r.stop();
    }
    return hit.length;
  }

  async stopAll(): Promise<void> {
    const all = this.all();
    for (const r of all) {
      r.cancelled = true;
      r.stop();
    }
    await Promise.all(all.map((r) => r.done));
  }

  private all(): Running[] {
    return [...this.byRun.values()].flatMap((s) => [...s]);
  }

  private track(runId: number, r: Running): void {
    const set = this.byRun.get(runId) ?? new Set();
    set.add(r);
    this.byRun.set(runId, set);
  }

  private untrack(runId: number, r: Running): void {
    const set = this.byRun.get(runId);
    set?.delete(r);
    if (set?.size === 0) this.byRun.delete(runId);
  }
}

const attemptId = (k: JobKey) => `${k.runId} ${k.name} ${k.index} ${k.attempt}`;

/** SIGTERM to the process group, SIGKILL after a grace period if anything is left. */
function killGroup(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* already gone */
    }
  };
  signal('SIGTERM');
  setTimeout(() => signal('SIGKILL'), KILL_GRACE_MS).unref();
}

function closeStream(s: fs.WriteStream): Promise<void> {
  return new Promise((resolve) => s.end(() => resolve()));
}
