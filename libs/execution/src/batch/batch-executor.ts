import * as path from 'node:path';
import type { JobKey } from '@wfs/domain';
import { openAppend } from '@wfs/storage';
import { Executor, ProcessOutcome, ProcessSpec } from '../executor';
import { LocalExecutor } from '../local-executor';
import { BatchEnd, BatchSpec, BatchStatus, BatchSystem } from './batch-system';

/** Where the batch executor records what the batch system said (JobLifecycle). */
export interface BatchLedger {
  /** Records the batch system's id with the running attempt; false when it stopped running meanwhile. */
  recordClusterJob(key: JobKey, clusterJobId: string): Promise<boolean>;
}

interface Log {
  log(m: string): void;
  warn(m: string): void;
}

/** Why wfs itself removed a batch job: so its end is read as that, not as someone else's removal. */
type OwnRemoval = 'cancelled' | 'timeout' | 'held';

interface Tracked {
  key: JobKey;
  id: string;
  spec: BatchSpec;
  timeoutMs: number;
  /** When the watcher first saw it running: its timeout counts from then, not from its time queued. */
  runningSince: number | null;
  removedBy: OwnRemoval | null;
  heldReason: string | null;
  /** Rounds in a row the batch system did not know it. */
  unknownRounds: number;
  resolve: (o: ProcessOutcome) => void;
}

/** Rounds a job may be unknown to the batch system before it counts as lost (a slow controller). */
const UNKNOWN_ROUNDS = 3;
/** How long a submit host keeps trying to record a batch id while Postgres is away. */
const RECORD_PATIENCE_MS = 10 * 60_000;

const outcome = (o: Partial<ProcessOutcome> = {}): ProcessOutcome => ({
  exitCode: null,
  signal: null,
  timedOut: false,
  cancelled: false,
  spawnError: null,
  ...o,
});

const attemptId = (k: JobKey) => `${k.runId} ${k.name} ${k.index} ${k.attempt}`;

/**
 * Runs job attempts on a batch system the site already has (WORKFLOWS v1.1
 * "Batch executors"), durably:
 * - submit: the banner goes to the job's logs, the adapter submits, and the
 *   batch system's id is recorded with the attempt in Postgres before
 *   anything else (a cancel that came meanwhile removes the batch job);
 * - one watcher asks the batch system about every attempt in flight in one
 *   round of its tools, a few times a second, and turns what it says into
 *   the attempt's outcome: exit, signal, timeout, over memory, node lost or
 *   evicted (tried again as worker_lost), held (the job is held), removed by
 *   someone else (removed_externally);
 * - the job's timeout counts from when the batch system started it, and is
 *   enforced here (the batch system's own limit is a backstop);
 * - cancel, a failed run or an operator's hold remove the batch job;
 * - at shutdown it lets go: the attempts run on and the next submit host
 *   re-attaches to them by their recorded ids (attach), never submitting one
 *   twice.
 * In-process steps (builtins) still run in the worker, tracked as the local
 * executor tracks them.
 */
export class BatchExecutor implements Executor {
  readonly kind: BatchSystem['kind'];
  private readonly tracked = new Map<string, Tracked>();
  private readonly inProcess = new LocalExecutor();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly system: BatchSystem,
    private readonly ledger: BatchLedger,
    private readonly log: Log,
    private readonly pollMs = 500,
  ) {
    this.kind = system.kind;
  }

  async run(spec: ProcessSpec): Promise<ProcessOutcome> {
    const batch = toBatchSpec(spec);
    if (typeof batch === 'string') return outcome({ spawnError: batch });
    const key = spec.key as JobKey;
    try {
      await writeBanner(spec);
    } catch (e) {
      return outcome({ spawnError: `cannot open the job's log: ${(e as Error).message}` });
    }
    let id: string;
    try {
      id = await this.system.submit(batch);
    } catch (e) {
      return outcome({ spawnError: `${this.kind} refused it: ${(e as Error).message}` });
    }
    return this.follow(key, id, batch, spec, true);
  }

  async attach(spec: ProcessSpec, clusterJobId: string | null): Promise<ProcessOutcome> {
    const batch = toBatchSpec(spec);
    if (typeof batch === 'string') return outcome({ spawnError: batch });
    const key = spec.key as JobKey;
    let id = clusterJobId;
    if (id === null) {
      try {
        id = await this.system.find(batch);
      } catch (e) {
        return outcome({
          batchEnd: {
            kind: 'lost',
            message: `cannot ask ${this.kind} about it: ${(e as Error).message}`,
          },
        });
      }
      if (id === null)
        return outcome({
          batchEnd: { kind: 'lost', message: 'its submit host stopped before submitting it' },
        });
    }
    return this.follow(key, id, batch, spec, clusterJobId === null);
  }

  /** Records the id (when it is new), then waits for the watcher to see the batch job end. */
  private async follow(
    key: JobKey,
    id: string,
    batch: BatchSpec,
    spec: ProcessSpec,
    record: boolean,
  ): Promise<ProcessOutcome> {
    if (record) {
      const stillRunning = await this.recordId(key, id);
      if (!stillRunning) {
        // Cancelled (or the run failed) between the claim and the submit: nothing must run.
        await this.system.cancel(id).catch(() => undefined);
        return outcome({ cancelled: true });
      }
    }
    if (this.stopped) return outcome({ detached: true });
    return new Promise<ProcessOutcome>((resolve) => {
      this.tracked.set(attemptId(key), {
        key,
        id,
        spec: batch,
        timeoutMs: spec.timeoutMs,
        runningSince: null,
        removedBy: null,
        heldReason: null,
        unknownRounds: 0,
        resolve,
      });
      this.schedulePoll(0);
    });
  }

  /** Keeps trying through a Postgres outage: the batch job runs meanwhile, its id must not be lost. */
  private async recordId(key: JobKey, id: string): Promise<boolean> {
    const deadline = Date.now() + RECORD_PATIENCE_MS;
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        return await this.ledger.recordClusterJob(key, id);
      } catch (e) {
        if (Date.now() + delay > deadline) {
          this.log.warn(
            `${this.kind} job ${id}: its id could not be recorded (${(e as Error).message}); removing it`,
          );
          return false;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private schedulePoll(delayMs: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => {
        this.timer = null;
        if (this.tracked.size > 0) this.schedulePoll(this.pollMs);
      });
    }, delayMs);
  }

  /** One round: what the batch system says of every attempt in flight. */
  private async poll(): Promise<void> {
    const all = [...this.tracked.values()];
    if (all.length === 0) return;
    let states: Map<string, BatchStatus>;
    try {
      states = await this.system.status(all.map((t) => ({ id: t.id, spec: t.spec })));
    } catch (e) {
      this.log.warn(`${this.kind}: cannot read job states (${(e as Error).message}); will retry`);
      return;
    }
    const now = Date.now();
    for (const t of all) {
      if (this.tracked.get(attemptId(t.key)) !== t) continue; // ended or let go meanwhile
      const s = states.get(t.id) ?? { state: 'unknown' };
      if (s.state !== 'unknown') t.unknownRounds = 0;
      switch (s.state) {
        case 'pending':
          break;
        case 'running':
          t.runningSince ??= now;
          if (now - t.runningSince > t.timeoutMs && t.removedBy === null) this.remove(t, 'timeout');
          break;
        case 'held':
          // The job is held in wfs (a release submits a new attempt): the batch job is removed.
          if (t.removedBy === null) {
            t.heldReason = s.reason;
            this.remove(t, 'held');
          }
          break;
        case 'ended':
          this.end(t, s.end);
          break;
        case 'unknown':
          if (++t.unknownRounds >= UNKNOWN_ROUNDS)
            this.end(t, {
              kind: 'lost',
              message: `${this.kind} no longer knows job ${t.id} and kept no record of it`,
            });
          break;
      }
    }
  }

  private remove(t: Tracked, why: OwnRemoval): void {
    t.removedBy = why;
    this.system
      .cancel(t.id)
      .catch((e: unknown) =>
        this.log.warn(`${this.kind} job ${t.id}: cannot remove it (${(e as Error).message})`),
      );
  }

  private end(t: Tracked, end: BatchEnd): void {
    this.tracked.delete(attemptId(t.key));
    t.resolve(judgeEnd(end, t.removedBy, t.heldReason, t.id));
    if (end.kind === 'lost') void this.system.cancel(t.id).catch(() => undefined);
  }

  cancelRun(runId: number): number {
    const hit = [...this.tracked.values()].filter((t) => t.key.runId === runId);
    for (const t of hit) if (t.removedBy === null) this.remove(t, 'cancelled');
    return hit.length + this.inProcess.cancelRun(runId);
  }

  trackInProcess(runId: number, stop: () => void, key?: JobKey): () => void {
    return this.inProcess.trackInProcess(runId, stop, key);
  }

  attempts(): JobKey[] {
    return [...[...this.tracked.values()].map((t) => t.key), ...this.inProcess.attempts()];
  }

  stopAttempts(keys: readonly JobKey[]): number {
    let n = 0;
    for (const k of keys) {
      const t = this.tracked.get(attemptId(k));
      if (t && t.removedBy === null) {
        this.remove(t, 'cancelled');
        n++;
      }
    }
    return n + this.inProcess.stopAttempts(keys);
  }

  letGo(keys: readonly JobKey[]): number {
    let n = 0;
    for (const k of keys) {
      const t = this.tracked.get(attemptId(k));
      if (!t) continue;
      this.tracked.delete(attemptId(k));
      t.resolve(outcome({ detached: true }));
      n++;
    }
    return n;
  }

  /** Lets go of every attempt: the cluster runs them on; the next submit host re-attaches. */
  async stopAll(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const all = [...this.tracked.values()];
    this.tracked.clear();
    for (const t of all) t.resolve(outcome({ detached: true }));
    if (all.length > 0)
      this.log.log(`${this.kind}: let go of ${all.length} attempt(s); they run on in the cluster`);
    await this.inProcess.stopAll();
  }
}

/** What an ended batch job means for its attempt, given whether wfs itself removed it. */
export function judgeEnd(
  end: BatchEnd,
  removedBy: OwnRemoval | null,
  heldReason: string | null,
  id: string,
): ProcessOutcome {
  if (removedBy === 'held')
    return outcome({ batchEnd: { kind: 'held', message: heldReason ?? `job ${id} held` } });
  if (removedBy === 'timeout') return outcome({ timedOut: true });
  if (removedBy === 'cancelled') return outcome({ cancelled: true });
  switch (end.kind) {
    case 'exited':
      return outcome({ exitCode: end.exitCode, signal: end.signal });
    case 'timeout':
      return outcome({ timedOut: true });
    case 'out_of_memory':
      return outcome({ batchEnd: { kind: 'out_of_memory', message: end.message } });
    case 'lost':
      return outcome({ batchEnd: { kind: 'lost', message: end.message } });
    case 'removed':
      return outcome({ batchEnd: { kind: 'removed_externally', message: end.message } });
    case 'failed_to_start':
      return outcome({ spawnError: end.message });
  }
}

/** The adapter's view of an attempt; a message when the spec lacks what a batch job needs. */
function toBatchSpec(spec: ProcessSpec): BatchSpec | string {
  const { key, job, requests, workDir } = spec;
  if (!key || !job || !requests || !workDir)
    return 'a batch executor needs the attempt, its job, requests and directory';
  return {
    name: `wfs-${spec.runId}-${job.name}-${job.index}`,
    runId: spec.runId,
    job: job.name,
    index: job.index,
    attempt: key.attempt,
    executable: spec.executable,
    args: spec.args,
    env: spec.env,
    cwd: spec.cwd,
    stdoutPath: spec.stdoutPath,
    stderrPath: spec.stderrPath,
    workDir,
    cpus: requests.cpus,
    memoryMb: requests.memoryMb,
    gpus: requests.gpus,
    labels: requests.labels,
    timeoutSeconds: Math.ceil(spec.timeoutMs / 1000),
  };
}

/** The attempt's banner, at the head of both logs; the batch job appends to them after it. */
async function writeBanner(spec: ProcessSpec): Promise<void> {
  for (const file of [spec.stdoutPath, spec.stderrPath]) {
    const handle = await openAppend(path.dirname(file), path.basename(file));
    try {
      await handle.appendFile(spec.banner + '\n');
    } finally {
      await handle.close();
    }
  }
}
