import { JobDefinition, ScatterSource } from './definition';
import type { ScatterItem } from './dag';
import { EventActor, EventProduct, EventType, GroupProgress, RunError } from './events';
import { JobAction } from './job-states';
import { DiskState, JobState, QaState, RunState } from './states';

/**
 * What the job transitions read and what they return: the facts of a run, its
 * instances and groups as the store loaded them, and the change set the
 * store applies (rows, events, what to release, stop and settle).
 */

export interface RunFacts {
  id: number;
  state: RunState;
  qaState: QaState;
  diskState: DiskState;
  products: EventProduct[] | null;
  /** An ingestion run settles its source runs when it ends (one, or many in a bulk ingestion). */
  ingests: boolean;
  /** What a job's `when` may read. */
  parameters?: Record<string, unknown>;
  /** The instances a run may have (WFS_MAX_JOBS_PER_RUN): a dynamic scatter is bounded by it too. */
  maxJobs?: number;
  subject?: string | null;
}

export interface JobFacts {
  name: string;
  index: number;
  state: JobState;
  attempts: number;
  /** Ready (dispatched_at set): its dependencies are done. */
  dispatched: boolean;
  /** The worker the scheduler placed it on (idle) or that runs it; only that worker may claim it. */
  assignedTo: string | null;
  /** Attempts an operator's hold stopped: not failures, so not counted against its retries. */
  uncounted: number;
  /** The round it is in (`repeat`), counting from 1. */
  round?: number;
}

export interface GroupFacts {
  name: string;
  needs: string[];
  completed: number;
  instances: number;
  released: boolean;
  /** Its `when` did not hold: every instance skipped, counted as done for its dependents. */
  skipped?: boolean;
  /** The result of an unscattered job's one instance (what later `when`s read), or null. */
  result?: unknown;
  /** The definition's `when`, checked when the group's needs are done. */
  when?: string | null;
  /** A gate (`builtin:gate`): when its needs are done it waits for a person, showing this prompt. */
  gate?: { prompt: string } | null;
  /** False while a dynamic scatter waits for the result it takes its list from: not done, no instances. */
  planned?: boolean;
  /** The definition's scatter (what a dynamic group is planned from). */
  scatter?: Record<string, ScatterSource> | null;
}

/** What a job's definition says about running it. */
export type JobRules = Pick<
  JobDefinition,
  | 'name'
  | 'stage'
  | 'scatter'
  | 'retries'
  | 'retryUnlessExit'
  | 'retryBackoff'
  | 'repeat'
  | 'events'
>;

/** Changes a builtin step made to the run itself (e.g. its directory moved to the QA area). */
export interface RunEffects {
  processingDir?: string;
  diskState?: DiskState;
  /** Products this step put in the archive: kept on the run, carried by its complete event. */
  products?: EventProduct[];
  /** Changes to the runs an ingestion run ingests (e.g. their directories moved back to the processing area). */
  sources?: SourceChange[];
  /** The JSON object the job wrote as its result (`{{dirs.result}}`). */
  result?: Record<string, unknown>;
}

/** A change to one run an ingestion run ingests. */
export interface SourceChange {
  runId: number;
  processingDir?: string;
  diskState?: DiskState;
}

/** The new state of one instance. `started`: a new attempt begins (host, times reset). */
export interface JobChange {
  name: string;
  index: number;
  action: JobAction;
  state: JobState;
  attempts: number;
  exitCode: number | null;
  statusReason: string | null;
  started?: true;
  finished?: true;
  /** Ready again after this delay (a retry). */
  retryAfterMs?: number;
  /** The attempt it had running is stopped and not counted as a failure (an operator's hold). */
  uncountAttempt?: true;
  /** The result the attempt wrote (a completed one). */
  result?: Record<string, unknown>;
  /** The round it goes on to (`repeat`). */
  round?: number;
}

export interface RunChange {
  state?: RunState;
  qaState?: QaState;
  started?: true;
  finished?: true;
  error?: RunError;
  processingDir?: string;
  diskState?: DiskState;
  /** Appended to the run's products. */
  products?: EventProduct[];
  /** Resumed: its finish and error are cleared, its resumed count goes up. */
  resumed?: true;
  /** A gate approved with changed parameters: the run's parameters from now on. */
  parameters?: Record<string, unknown>;
}

/** An event of the change set; its run snapshot is the run after the change, its job the instance after it. */
export interface EventSpec {
  type: EventType;
  job?: { name: string; index: number };
  /** Carries the run's products (complete, ingested). */
  products?: true;
  /** A gate event's prompt and the decider's comment (CONTRACT 5.8 `gate`). */
  gate?: { prompt: string; comment: string | null };
  /** A `group-progress` event's counts (CONTRACT 5.8 `progress`). */
  progress?: GroupProgress;
}

export interface ChangeSet {
  jobs: JobChange[];
  groups: GroupFacts[];
  run: RunChange | null;
  events: EventSpec[];
  /** Groups whose idle instances become ready (dispatched and queued after commit). */
  release: string[];
  /** Dynamic scatters planned now: their instances are written, ready at once. */
  plan: Array<{ name: string; items: ScatterItem[] }>;
  /** Groups whose `when` did not hold: their idle instances are skipped, set-based. */
  skip: Array<{ name: string; reason: string }>;
  /** Every other live instance of the run stops, set-based (a run that fails or is cancelled). */
  stopLive: StopLive | null;
  /** The run's instances that did not complete become idle again, set-based (a resume). */
  reopen: Reopen | null;
  /** Running attempts whose processes the workers stop (an operator's hold). */
  stopAttempts: Array<{ name: string; index: number; attempt: number }>;
  /**
   * Summary groups (`events: summary`) whose counts changed: a `group-progress`
   * event is due for each (sent at most once a second, see libs/runs group-progress.ts).
   */
  progress: string[];
  /** Who asked for the change, carried by its events (a person's action). */
  actor: EventActor | null;
  /** An ingestion run ended: its source run learns the outcome. */
  settleSource: 'ingested' | 'failed' | null;
  sourceChanges: SourceChange[];
}

/**
 * Which instances a resume opens again: every `failed` and `removed` one,
 * and those `skipped` because the run stopped (`statusReason` one of
 * `skippedBecause`), not those skipped for a reason of their own. They go
 * back to `idle`, ready at once when their group was released; attempt
 * counters go on.
 */
export interface Reopen {
  skippedBecause: readonly string[];
  /** The workflow's gates: one whose needs are done opens again (waiting), not idle. */
  gates?: readonly string[];
}

/** How a run's remaining live instances stop: running ones are removed, the others `idle`. */
export interface StopLive {
  reason: string;
  idle: JobState;
  /** Which states the set-based stop reaches (instances the change set names are not among them). */
  states: readonly JobState[];
  /** Whether idle instances lose their last attempt's finish time. */
  clearFinish: boolean;
}
