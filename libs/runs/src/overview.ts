import { WORKER_DEAD_AFTER_S } from '@wfs/domain';
import { Database } from '@wfs/persistence';

/** What operations staff look at first: how many runs are where, who works, what waits. */
export interface Overview {
  /** Runs by state (states with none are left out). */
  runs: Record<string, number>;
  /** Complete runs whose QA a DA has still to set. */
  awaitingQa: number;
  /** Events in the outbox the broker has not confirmed yet (a broker outage shows here). */
  eventsUnpublished: number;
  /** Workers seen in the last hour; alive = heartbeat within WORKER_DEAD_AFTER_S. */
  workers: Array<{ id: string; host: string; pid: number; lastSeen: string; alive: boolean }>;
}

/** One round trip: the counts come from the state indexes, the rest from small tables. */
export async function readOverview(db: Database): Promise<Overview> {
  const [row] = await db.query<{
    runs: Record<string, number> | null;
    awaiting_qa: number;
    unpublished: number;
    workers: Overview['workers'] | null;
  }>(
    `SELECT
       (SELECT json_object_agg(state, n) FROM (SELECT state, count(*)::int AS n FROM runs GROUP BY state) s) AS runs,
       (SELECT count(*)::int FROM runs WHERE qa_state = 'awaiting') AS awaiting_qa,
       (SELECT count(*)::int FROM events WHERE published_at IS NULL) AS unpublished,
       (SELECT json_agg(json_build_object('id', id, 'host', host, 'pid', pid,
                 'lastSeen', to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                 'alive', last_seen > now() - $1 * interval '1 second') ORDER BY host, id)
          FROM workers WHERE last_seen > now() - interval '1 hour') AS workers`,
    [WORKER_DEAD_AFTER_S],
  );
  return {
    runs: row?.runs ?? {},
    awaitingQa: row?.awaiting_qa ?? 0,
    eventsUnpublished: row?.unpublished ?? 0,
    workers: row?.workers ?? [],
  };
}
