import { randomUUID } from 'node:crypto';
import { buildEvent, EventJob, EventProduct, EventType, RunSnapshot, WfsEvent } from '@wfs/domain';
import type { Tx } from '@wfs/persistence';

export interface PendingEvent {
  type: EventType;
  job?: EventJob | null;
  products?: EventProduct[] | null;
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
): Promise<WfsEvent[]> {
  if (events.length === 0) return [];
  const [row] = await tx.query<{ last_sequence: number; now: Date }>(
    'UPDATE runs SET last_sequence = last_sequence + $2 WHERE id = $1 RETURNING last_sequence, clock_timestamp() AS now',
    [run.id, events.length],
  );
  if (!row) throw new Error(`run ${run.id} vanished while writing its events`);
  const first = row.last_sequence - events.length + 1;
  const bodies = events.map((e, i) =>
    buildEvent(
      e.type,
      run,
      { messageId: randomUUID(), sequence: first + i, occurredAt: row.now },
      e,
    ),
  );
  await tx.query(
    `INSERT INTO events (run_id, sequence, type, body)
     SELECT $1, s, t, b FROM unnest($2::int[], $3::text[], $4::jsonb[]) AS x(s, t, b)`,
    [
      run.id,
      bodies.map((b) => b.sequence),
      bodies.map((b) => b.type),
      bodies.map((b) => JSON.stringify(b)),
    ],
  );
  await tx.query(`SELECT pg_notify('${EVENTS_CHANNEL}', $1)`, [String(run.id)]);
  return bodies;
}
