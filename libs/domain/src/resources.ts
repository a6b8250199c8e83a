import type { JobDefinition } from './definition';

/**
 * Sizes and requests (HTCondor's job model): what a job asks for and what a
 * worker has. Memory is kept in MiB; `16G`, `512M`, `2T` and `1048576K` are
 * accepted, and a bare number means MiB (as HTCondor's request_memory).
 */

export interface Requests {
  cpus: number;
  /** MiB. */
  memoryMb: number;
  gpus: number;
  /** Labels the worker must have (`requirements: {labels}`). */
  labels: readonly string[];
}

const UNIT_MB: Record<string, number> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };

/** `16G` -> 16384 (MiB); null when it is not a size. */
export function parseMemory(text: string): number | null {
  const m = /^([0-9]+)([KMGT])?$/i.exec(text.trim());
  if (!m) return null;
  const mb = Number(m[1]) * (UNIT_MB[(m[2] ?? 'M').toUpperCase()] as number);
  return Number.isSafeInteger(Math.ceil(mb)) ? Math.ceil(mb) : null;
}

/** 16384 -> `16G`; 1536 -> `1536M`. */
export function formatMemory(mb: number): string {
  if (mb >= 1024 * 1024 && mb % (1024 * 1024) === 0) return `${mb / (1024 * 1024)}T`;
  if (mb >= 1024 && mb % 1024 === 0) return `${mb / 1024}G`;
  return `${mb}M`;
}

/** What a worker offers (one partitionable slot) and what it has in use. */
export interface WorkerCapacity {
  id: string;
  /** `local` workers run jobs themselves; a batch executor's cluster places them (no resource check here). */
  executor: string;
  cpus: number;
  memoryMb: number;
  gpus: number;
  labels: readonly string[];
  /** Jobs at once at most (WFS_WORKER_CONCURRENCY). */
  slots: number;
  /**
   * Jobs placed on it beyond its slots, waiting in its queue for one (they
   * hold their resources meanwhile), so that it never waits for the
   * scheduler between two short jobs. Absent: none.
   */
  prefetch?: number;
}

export interface Usage {
  cpus: number;
  memoryMb: number;
  gpus: number;
  jobs: number;
}

export const NO_USAGE: Usage = { cpus: 0, memoryMb: 0, gpus: 0, jobs: 0 };

const hasLabels = (w: WorkerCapacity, r: Requests) => r.labels.every((l) => w.labels.includes(l));

/** Whether the worker could ever run the job (its whole slot, empty). */
export function couldEverFit(w: WorkerCapacity, r: Requests): boolean {
  if (!hasLabels(w, r)) return false;
  if (w.executor !== 'local') return true;
  return r.cpus <= w.cpus && r.memoryMb <= w.memoryMb && r.gpus <= w.gpus;
}

/** Whether the worker can start the job now, beside what it has in use. */
export function fitsNow(w: WorkerCapacity, used: Usage, r: Requests): boolean {
  if (used.jobs + 1 > w.slots + (w.prefetch ?? 0) || !couldEverFit(w, r)) return false;
  if (w.executor !== 'local') return true;
  return (
    used.cpus + r.cpus <= w.cpus &&
    used.memoryMb + r.memoryMb <= w.memoryMb &&
    used.gpus + r.gpus <= w.gpus
  );
}

export const addUsage = (u: Usage, r: Requests, sign: 1 | -1 = 1): Usage => ({
  cpus: u.cpus + sign * r.cpus,
  memoryMb: u.memoryMb + sign * r.memoryMb,
  gpus: u.gpus + sign * r.gpus,
  jobs: u.jobs + sign,
});

const describe = (cpus: number, memoryMb: number, gpus: number, labels: readonly string[]) =>
  [
    `${cpus} cpu${cpus === 1 ? '' : 's'}`,
    formatMemory(memoryMb),
    ...(gpus > 0 ? [`${gpus} gpu${gpus === 1 ? '' : 's'}`] : []),
    ...(labels.length > 0 ? [`labels ${labels.join(',')}`] : []),
  ].join(', ');

/**
 * Why no live worker could ever run the job, in the contract's words:
 * `no_matching_worker: needs 32 cpus, 64G; the largest live worker has 16 cpus, 24G`.
 */
export function noMatchingWorker(r: Requests, workers: readonly WorkerCapacity[]): string {
  const needs = describe(r.cpus, r.memoryMb, r.gpus, r.labels);
  if (workers.length === 0) return `no_matching_worker: needs ${needs}; no worker is live`;
  const largest = [...workers].sort(
    (a, b) => b.cpus - a.cpus || b.memoryMb - a.memoryMb || b.gpus - a.gpus,
  )[0] as WorkerCapacity;
  const labelled = workers.filter((w) => hasLabels(w, r));
  const tail =
    r.labels.length > 0 && labelled.length === 0
      ? `; no live worker has the labels ${r.labels.join(',')}`
      : '';
  return `no_matching_worker: needs ${needs}; the largest live worker has ${describe(
    largest.cpus,
    largest.memoryMb,
    largest.gpus,
    largest.labels,
  )}${tail}`;
}

/** What a job definition asks for. */
export function jobRequests(
  job: Pick<JobDefinition, 'requestCpus' | 'requestMemory' | 'requestGpus' | 'requirements'>,
): Requests {
  return {
    cpus: job.requestCpus,
    memoryMb: parseMemory(job.requestMemory) ?? 0,
    gpus: job.requestGpus ?? 0,
    labels: job.requirements?.labels ?? [],
  };
}

/**
 * Builtins that stand for computing (the RADPS skeleton's tasks, load tests):
 * with a batch executor each goes to the cluster as the process it stands
 * for, on any node. The service's own steps (moves, archive calls) stay in
 * the worker.
 */
export const BATCH_WORK: Readonly<Record<string, string>> = { 'builtin:work': '/bin/sleep' };

/** Whether an attempt of this executable is handed to the batch executor (null: the worker runs it). */
export function handedToBatch(executable: string, executor: string | null): boolean {
  return executor !== null && (!executable.startsWith('builtin:') || executable in BATCH_WORK);
}
