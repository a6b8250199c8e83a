import { randomUUID } from 'node:crypto';
import { buildEvent, EventJob, EventProduct, EventType, RunSnapshot } from '@wfs/domain';
import type { Tx } from '@wfs/persistence';

export interface PendingEvent {
  type: EventType;
  job?: EventJob | null;
  products?: EventProduct[] | null;
  /** The run as this event shows it, when not the run the events are written for (an earlier state). */
  run?: RunSnapshot;
}

/** Event bodies as the outbox stores them before Postgres sets their sequence and time. */
export function eventBodies(run: RunSnapshot, events: readonly PendingEvent[]): string[] {
  return events.map((e) =>
    JSON.stringify(
      buildEvent(
        e.type,
        e.run ?? run,
        { messageId: randomUUID(), sequence: 0, occurredAt: new Date(0) },
        e,
      ),
    ),
  );
}

/** The Postgres channel told (on commit) that a run has new events. */
export const EVENTS_CHANNEL = 'wfs_events';

/**
 * Writes events to the outbox in the caller's transaction, numbering them
 * with the run's gapless sequence. The caller holds the run row lock, so
 * sequences and ids of one run grow together; the relay publishes from here.
 */
export async function appendEvents(
  tx: Tx,
  run: RunSnapshot,
  events: readonly PendingEvent[],
): Promise<void> {
  if (events.length === 0) return;
  // The bodies are built here; their sequence and time are set by Postgres in the same
  // statement that takes them, so writing a state change's events is one round trip.
  const bodies = eventBodies(run, events);
  const [row] = await tx.query<{ written: string }>(
    `WITH seq AS (
       UPDATE runs SET last_sequence = last_sequence + $2 WHERE id = $1
       RETURNING last_sequence - $2 AS base,
                 to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
     ), written AS (
       INSERT INTO events (run_id, sequence, type, body)
       SELECT $1, seq.base + x.n, x.t, x.b || jsonb_build_object('sequence', seq.base + x.n, 'occurredAt', seq.at)
       FROM seq, unnest($3::text[], $4::jsonb[]) WITH ORDINALITY AS x(t, b, n)
       RETURNING 1
     )
     SELECT count(*) AS written, pg_notify('${EVENTS_CHANNEL}', $1::text) FROM written`,
    [run.id, events.length, events.map((e) => e.type), bodies],
  );
  if (Number(row?.written) !== events.length)
    throw new Error(`run ${run.id} vanished while writing its events`);
}
