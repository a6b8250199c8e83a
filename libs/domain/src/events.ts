import { ArchiveState, DiskState, JobState, QaState, RunState } from './states';

export const EVENT_TYPES = [
  'created',
  'submitted',
  'running',
  'job-started',
  'job-completed',
  'job-failed',
  'job-retrying',
  'job-held',
  'job-released',
  'gate-waiting',
  'gate-approved',
  'gate-rejected',
  'resumed',
  'group-progress',
  'complete',
  'failed',
  'cancelled',
  'qa-set',
  'ingestion-started',
  'ingested',
  'ingestion-failed',
  'rejected',
  'cleaned',
  'expired',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface RunError {
  code: string;
  message: string;
}

/** The state of a run an event describes: copied into every event body. */
export interface RunSnapshot {
  id: number;
  requestId: number;
  version: number;
  workflow: string;
  subject: string | null;
  correlationId: string | null;
  state: RunState;
  qaState: QaState;
  archiveState: ArchiveState;
  diskState: DiskState;
  processingDir: string | null;
  resultsDir: string | null;
  sourceRunId: number | null;
  ingestionRunId: number | null;
  error: RunError | null;
}

export interface EventJob {
  name: string;
  index: number;
  state: JobState;
  attempts: number;
  exitCode: number | null;
  statusReason: string | null;
  stage?: string;
  /** Where its attempt runs or ran: the executor, the worker's host, the batch system's id (CONTRACT 5.8). */
  executor?: { kind: string; host: string; clusterJobId: string | null } | null;
}

/** The person (token) whose request caused an event (CONTRACT 5.6). */
export interface EventActor {
  name: string;
  role: string;
}

export interface EventProduct {
  name: string;
  kind: string;
  /** The run it was made from: a bulk ingestion's `ingested` events each carry their own run's. */
  sourceRunId?: number;
  files: Array<{ path: string; role: string }>;
}

/** The message body of the contract (section 3), also returned by /events. */
export interface WfsEvent {
  messageId: string;
  specVersion: 1;
  type: EventType;
  sequence: number;
  occurredAt: string;
  runId: number;
  requestId: number;
  version: number;
  workflow: string;
  subject: string | null;
  correlationId: string | null;
  state: RunState;
  qaState: QaState;
  archiveState: ArchiveState;
  diskState: DiskState;
  processingDir: string | null;
  resultsDir: string | null;
  job: EventJob | null;
  sourceRunId: number | null;
  ingestionRunId: number | null;
  products: EventProduct[] | null;
  error: RunError | null;
  actor: EventActor | null;
  /** On gate events: the gate job, its prompt, the decider's comment (CONTRACT 5.8). */
  gate: EventGate | null;
  /** On group-progress events: the counts of the group's instances (CONTRACT 5.8). */
  progress: GroupProgress | null;
}

/** The state counts of a scattered job's instances (a `group-progress` event, CONTRACT 5.8). */
export interface GroupProgress {
  job: string;
  /** The job's stage (`running casa`): what a survey manager shows. */
  stage: string;
  total: number;
  idle: number;
  running: number;
  completed: number;
  failed: number;
  held: number;
}

export interface EventGate {
  job: string;
  prompt: string;
  comment: string | null;
}

export function buildEvent(
  type: EventType,
  run: RunSnapshot,
  ids: { messageId: string; sequence: number; occurredAt: Date },
  extra: {
    job?: EventJob | null;
    products?: EventProduct[] | null;
    actor?: EventActor | null;
    gate?: EventGate | null;
    progress?: GroupProgress | null;
  } = {},
): WfsEvent {
  return {
    messageId: ids.messageId,
    specVersion: 1,
    type,
    sequence: ids.sequence,
    occurredAt: ids.occurredAt.toISOString(),
    runId: run.id,
    requestId: run.requestId,
    version: run.version,
    workflow: run.workflow,
    subject: run.subject,
    correlationId: run.correlationId,
    state: run.state,
    qaState: run.qaState,
    archiveState: run.archiveState,
    diskState: run.diskState,
    processingDir: run.processingDir,
    resultsDir: run.resultsDir,
    job: extra.job ?? null,
    sourceRunId: run.sourceRunId,
    ingestionRunId: run.ingestionRunId,
    products: extra.products ?? null,
    error: run.error,
    actor: extra.actor ?? null,
    gate: extra.gate ?? null,
    progress: extra.progress ?? null,
  };
}

/** The AMQP routing key of an event: run.<workflow>.<type>. */
export const routingKey = (e: Pick<WfsEvent, 'workflow' | 'type'>): string =>
  `run.${e.workflow}.${e.type}`;

export const TERMINAL_EVENT_TYPES: ReadonlySet<EventType> = new Set([
  'complete',
  'failed',
  'cancelled',
]);
