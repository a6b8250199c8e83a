import { randomUUID } from 'node:crypto';
import {
  buildEvent,
  EventActor,
  EventGate,
  EventJob,
  EventProduct,
  EventType,
  GroupProgress,
  RunSnapshot,
} from '@wfs/domain';

/**
 * The one outbox writer. Every event of every path is numbered and stored
 * here: its sequence follows the run's `last_sequence` (the caller holds the
 * run's row lock, so one run's sequences and ids grow together), its
 * `occurredAt` is Postgres's clock when the row is written, and the commit
 * NOTIFYs `wfs_events` with the run ids so the relay publishes at once.
 */

export interface PendingEvent {
  type: EventType;
  job?: EventJob | null;
  products?: EventProduct[] | null;
  /** The person whose request caused it. */
  actor?: EventActor | null;
  /** A gate event's gate (CONTRACT 5.8). */
  gate?: EventGate | null;
  /** A group-progress event's counts (CONTRACT 5.8). */
  progress?: GroupProgress | null;
  /** The run as this event shows it, when not the run the events are written for (an earlier state). */
  run?: RunSnapshot;
}

/** The Postgres channel told (on commit) that a run has new events. */
export const EVENTS_CHANNEL = 'wfs_events';

/** An event numbered for the outbox: its body lacks only `sequence` and `occurredAt`, set as it is stored. */
export interface OutboxRow {
  runId: number;
  sequence: number;
  type: EventType;
  body: string;
}

/** Numbers events after `lastSequence` and builds their bodies from the run's snapshot. */
export function numberEvents(
  run: RunSnapshot,
  lastSequence: number,
  events: readonly PendingEvent[],
): OutboxRow[] {
  return events.map((e, i) => ({
    runId: run.id,
    sequence: lastSequence + i + 1,
    type: e.type,
    body: JSON.stringify(
      buildEvent(
        e.type,
        e.run ?? run,
        { messageId: randomUUID(), sequence: 0, occurredAt: new Date(0) },
        e,
      ),
    ),
  }));
}

/**
 * The statement part that stores numbered events: an INSERT over
 * unnest(run ids, sequences, types, bodies) given as the parameters `$p`,
 * `$p+1`, `$p+2`, `$p+3` of the caller's statement (so a transition's rows
 * and its events go in one round trip), in the order given. `base` is an SQL
 * expression added to each sequence, for callers that number in SQL.
 */
export function outboxInsert(p: number, base = '0'): string {
  return `INSERT INTO events (run_id, sequence, type, body)
    SELECT x.run_id, ${base} + x.seq, x.t,
           x.b || jsonb_build_object('sequence', ${base} + x.seq, 'occurredAt',
                    to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    FROM unnest($${p}::bigint[], $${p + 1}::int[], $${p + 2}::text[], $${p + 3}::jsonb[])
         WITH ORDINALITY AS x(run_id, seq, t, b, n)
    ORDER BY x.n
    RETURNING 1`;
}

/** The four parameters of `outboxInsert`. */
export const outboxParams = (rows: readonly OutboxRow[]): unknown[] => [
  rows.map((r) => r.runId),
  rows.map((r) => r.sequence),
  rows.map((r) => r.type),
  rows.map((r) => r.body),
];

/** The NOTIFY payload naming the runs that have new events (`*` when too many to name). */
export function notifyPayload(rows: readonly OutboxRow[]): string {
  const ids = [...new Set(rows.map((r) => r.runId))].join(',');
  return ids.length > 7900 ? '*' : ids;
}

/** The NOTIFY part of a statement that stored events; `$p` is `notifyPayload`'s text. */
export const outboxNotify = (p: number): string =>
  `CASE WHEN $${p}::text <> '' THEN pg_notify('${EVENTS_CHANNEL}', $${p}::text) END`;

/** A workflow-level message (CONTRACT 5.8): routing key `workflow.<name>.<what>`. */
export interface WorkflowEvent {
  workflow: string;
  /** `paused` or `unpaused`; the body's `type` is `workflow-<what>`. */
  what: 'paused' | 'unpaused';
  actor: EventActor | null;
  reason: string | null;
}

/**
 * Stores a workflow-level message in its outbox (`workflow_events`), in the
 * caller's transaction; the relay publishes it with the run events.
 */
export async function insertWorkflowEvent(
  tx: { query(sql: string, params?: unknown[]): Promise<unknown[]> },
  e: WorkflowEvent,
): Promise<void> {
  const body = {
    messageId: randomUUID(),
    specVersion: 1,
    type: `workflow-${e.what}`,
    workflow: e.workflow,
    actor: e.actor,
    reason: e.reason,
  };
  await tx.query(
    `INSERT INTO workflow_events (workflow, type, body)
     VALUES ($1, $2, $3::jsonb || jsonb_build_object('occurredAt',
             to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))`,
    [e.workflow, e.what, JSON.stringify(body)],
  );
  await tx.query(`SELECT pg_notify('${EVENTS_CHANNEL}', '')`);
}

/** The routing key of a workflow-level message. */
export const workflowRoutingKey = (workflow: string, what: string): string =>
  `workflow.${workflow}.${what}`;
