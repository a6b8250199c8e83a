import {
  addUsage,
  couldEverFit,
  fitsNow,
  noMatchingWorker,
  NO_USAGE,
  Requests,
  Usage,
  WorkerCapacity,
} from './resources';

/**
 * The scheduler's decision, pure: which ready instances start on which
 * worker now. Runs of higher `priority` go first; runs of equal priority take
 * turns (round-robin, the one served longest ago first), so a run scattering
 * to 100,000 instances does not starve a three-job run beside it. An instance
 * starts only where the worker's free cpus, memory, gpus and slots and its
 * labels fit (a partitionable slot), while each of its named limits has
 * room, while its workflow is under `maxConcurrentJobs` and not paused. An
 * instance no live worker could ever fit is held (`no_matching_worker`).
 */

/** Why a ready instance has not started (CONTRACT 5.3 `waitingFor`). */
export type WaitingFor =
  | 'dependencies'
  | 'resources'
  | 'priority'
  | 'workflow_paused'
  | 'retry_backoff'
  | `limit:${string}`;

/** `maxConcurrentJobs` shows as this limit name in `waitingFor`. */
export const WORKFLOW_LIMIT = 'maxConcurrentJobs';

/** The ready, unplaced instances of one job group of one run, in plan order. */
export interface CandidateGroup {
  runId: number;
  name: string;
  workflow: string;
  priority: number;
  requests: Requests;
  /** Named limits the job takes one of each (`concurrencyLimits`). */
  limits: readonly string[];
  /** The workflow's `maxConcurrentJobs` (null: unbounded). */
  maxConcurrentJobs: number | null;
  instances: ReadonlyArray<{ index: number; attempt: number }>;
}

export interface SchedulingState {
  workers: readonly WorkerCapacity[];
  /** What each live worker has placed or running. */
  usage: ReadonlyMap<string, Usage>;
  /** Named limits that are set (a name not set is unlimited). */
  limits: ReadonlyMap<string, number>;
  /** Instances placed or running that take each limit. */
  limitUse: ReadonlyMap<string, number>;
  /** Instances placed or running per workflow. */
  workflowUse: ReadonlyMap<string, number>;
  paused: ReadonlySet<string>;
  /** When each run was last given a slot (a counter; absent: never): the round-robin's order. */
  lastServed: ReadonlyMap<number, number>;
}

export interface Placement {
  runId: number;
  name: string;
  index: number;
  attempt: number;
  workerId: string;
}

export interface Decision {
  placements: Placement[];
  /** Every candidate group: why its unplaced instances wait (null: all placed). */
  waiting: Array<{ runId: number; name: string; waitingFor: WaitingFor | null }>;
  /** Instances no live worker could ever run: held with this reason. */
  holds: Array<{ runId: number; name: string; index: number; reason: string }>;
  /** The round-robin's counters after this decision. */
  lastServed: Map<number, number>;
}

interface Cursor {
  group: CandidateGroup;
  next: number;
  blocked: WaitingFor | null;
}

export function schedule(groups: readonly CandidateGroup[], state: SchedulingState): Decision {
  const usage = new Map(state.workers.map((w) => [w.id, state.usage.get(w.id) ?? NO_USAGE]));
  const limitUse = new Map(state.limitUse);
  const workflowUse = new Map(state.workflowUse);
  const lastServed = new Map(state.lastServed);
  let clock = Math.max(0, ...lastServed.values());
  const placements: Placement[] = [];
  const holds: Decision['holds'] = [];
  const cursors: Cursor[] = groups.map((group) => ({ group, next: 0, blocked: null }));

  for (const c of cursors) {
    const g = c.group;
    if (state.paused.has(g.workflow)) c.blocked = 'workflow_paused';
    else if (!state.workers.some((w) => couldEverFit(w, g.requests))) {
      const reason = noMatchingWorker(g.requests, state.workers);
      for (const i of g.instances)
        holds.push({ runId: g.runId, name: g.name, index: i.index, reason });
      c.next = g.instances.length;
    }
  }

  // What keeps one more instance of the group from starting now, or the worker it would start on.
  const blockerOf = (g: CandidateGroup): WaitingFor | WorkerCapacity => {
    for (const l of g.limits) {
      const max = state.limits.get(l);
      if (max !== undefined && (limitUse.get(l) ?? 0) >= max) return `limit:${l}`;
    }
    if (g.maxConcurrentJobs !== null && (workflowUse.get(g.workflow) ?? 0) >= g.maxConcurrentJobs)
      return `limit:${WORKFLOW_LIMIT}`;
    let best: WorkerCapacity | null = null;
    let bestKey = Infinity;
    for (const w of state.workers) {
      const u = usage.get(w.id) as Usage;
      if (!fitsNow(w, u, g.requests)) continue;
      // Spread: the worker with the smallest share of its slots and cpus in use.
      const key = u.jobs / (w.slots + (w.prefetch ?? 0)) + (w.cpus > 0 ? u.cpus / w.cpus : 0);
      if (key < bestKey) [best, bestKey] = [w, key];
    }
    return best ?? 'resources';
  };

  const levels = [...new Set(groups.map((g) => g.priority))].sort((a, b) => b - a);
  // A lower level's instance short of room while a higher level had ready work waits on priority.
  let higherWaiting = false;
  for (const priority of levels) {
    const level = cursors.filter((c) => c.group.priority === priority);
    // The one served longest ago first; among those never served, in the order given (the
    // scheduler reads runs taking turns from where the last pass stopped). A stable sort.
    const runs = [...new Set(level.map((c) => c.group.runId))].sort(
      (a, b) => (lastServed.get(a) ?? -1) - (lastServed.get(b) ?? -1),
    );
    const byRun = new Map<number, Cursor[]>();
    for (const c of level) byRun.set(c.group.runId, [...(byRun.get(c.group.runId) ?? []), c]);
    const open = (c: Cursor) => c.blocked === null && c.next < c.group.instances.length;
    let progress = true;
    while (progress) {
      progress = false;
      for (const runId of runs) {
        // One instance per run per turn: its first group that can start one.
        for (const c of byRun.get(runId) as Cursor[]) {
          if (!open(c)) continue;
          const where = blockerOf(c.group);
          if (typeof where === 'string') {
            c.blocked = where === 'resources' && higherWaiting ? 'priority' : where;
            continue;
          }
          const g = c.group;
          const inst = g.instances[c.next++] as { index: number; attempt: number };
          placements.push({
            runId,
            name: g.name,
            index: inst.index,
            attempt: inst.attempt,
            workerId: where.id,
          });
          usage.set(where.id, addUsage(usage.get(where.id) as Usage, g.requests));
          for (const l of g.limits) limitUse.set(l, (limitUse.get(l) ?? 0) + 1);
          workflowUse.set(g.workflow, (workflowUse.get(g.workflow) ?? 0) + 1);
          lastServed.set(runId, ++clock);
          progress = true;
          break;
        }
      }
    }
    if (level.length > 0) higherWaiting = true;
  }

  return {
    placements,
    holds,
    lastServed,
    waiting: cursors.map((c) => ({
      runId: c.group.runId,
      name: c.group.name,
      waitingFor:
        c.next >= c.group.instances.length && c.blocked === null
          ? null
          : (c.blocked ?? 'resources'),
    })),
  };
}

/** Why an idle instance has not started, from its row and its group's (null: it is not waiting). */
export function waitingForOf(job: {
  state: string;
  /** Ready since (null: its dependencies are not done). */
  readySince: Date | null;
  placed: boolean;
  /** Its ready time is still ahead (a retry's backoff). */
  backoff: boolean;
  workflowPaused: boolean;
  /** What the scheduler last recorded for its group. */
  groupWaiting: string | null;
}): WaitingFor | null {
  if (job.state !== 'idle' || job.placed) return null;
  if (job.readySince === null) return 'dependencies';
  if (job.backoff) return 'retry_backoff';
  if (job.workflowPaused) return 'workflow_paused';
  return (job.groupWaiting as WaitingFor | null) ?? 'resources';
}
