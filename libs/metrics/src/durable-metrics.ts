import { Database } from '@wfs/persistence';

/** Seconds: job attempts last from under a second (a builtin step) to days (an imaging job). */
export const JOB_DURATION_BUCKETS = [
  0.1, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 172800, 604800,
];

interface Observed {
  workflow: string;
  job: string;
  buckets: number[];
  count: number;
  sum: number;
}

/**
 * What a worker observes for /metrics (the API serves it, the worker has no
 * port): job attempt durations and counters, kept in memory and added to
 * their rows (metric_job_durations, metric_counters) every few seconds in one
 * statement each, never on the path of a job. A worker killed loses at most
 * its last few seconds of observations; what was written survives restarts,
 * so the API's counters only grow.
 */
export class DurableMetrics {
  private readonly durations = new Map<string, Observed>();
  private readonly counters = new Map<string, { read: () => number; written: number }>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly db: Database,
    private readonly intervalMs = 5000,
  ) {}

  /** One finished attempt of `job` in a run of `workflow`. */
  observeJob(workflow: string, job: string, seconds: number): void {
    const key = `${workflow}\u0000${job}`;
    let o = this.durations.get(key);
    if (!o) {
      o = {
        workflow,
        job,
        buckets: new Array<number>(JOB_DURATION_BUCKETS.length + 1).fill(0),
        count: 0,
        sum: 0,
      };
      this.durations.set(key, o);
    }
    let i = JOB_DURATION_BUCKETS.findIndex((le) => seconds <= le);
    if (i < 0) i = JOB_DURATION_BUCKETS.length;
    o.buckets[i] = (o.buckets[i] ?? 0) + 1;
    o.count++;
    o.sum += seconds;
  }

  /** A counter `name` the process keeps itself (it only grows): what it gained is added at each flush. */
  countFrom(name: string, read: () => number): void {
    this.counters.set(name, { read, written: read() });
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** Adds what was observed since the last flush; kept for the next one if the database is away. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async write(): Promise<void> {
    const rows = [...this.durations.values()];
    this.durations.clear();
    const gains = [...this.counters.entries()].map(([name, c]) => {
      const now = c.read();
      const gain = now - c.written;
      c.written = now;
      return { name, gain, c };
    });
    if (rows.length)
      await this.db
        .query(
          `INSERT INTO metric_job_durations AS t (workflow, job, buckets, count, sum)
           SELECT r.workflow, r.job, ARRAY(SELECT jsonb_array_elements_text(r.buckets)::bigint),
                  r.count, r.sum
           FROM jsonb_to_recordset($1::jsonb)
                AS r(workflow text, job text, buckets jsonb, count bigint, sum float8)
           ON CONFLICT (workflow, job) DO UPDATE SET
             buckets = CASE WHEN cardinality(t.buckets) = cardinality(EXCLUDED.buckets)
                            THEN ARRAY(SELECT a + b FROM unnest(t.buckets, EXCLUDED.buckets) AS u(a, b))
                            ELSE EXCLUDED.buckets END,
             count = t.count + EXCLUDED.count,
             sum = t.sum + EXCLUDED.sum`,
          [JSON.stringify(rows)],
        )
        // The database is away: kept for the next flush.
        .catch(() => this.restore(rows, []));
    const counted = gains.filter((g) => g.gain > 0);
    if (counted.length)
      await this.db
        .query(
          `INSERT INTO metric_counters AS t (name, value)
           SELECT * FROM unnest($1::text[], $2::bigint[])
           ON CONFLICT (name) DO UPDATE SET value = t.value + EXCLUDED.value`,
          [counted.map((g) => g.name), counted.map((g) => g.gain)],
        )
        .catch(() => this.restore([], counted));
  }

  private restore(
    rows: Observed[],
    gains: Array<{ name: string; gain: number; c: { written: number } }>,
  ): void {
    for (const r of rows) {
      const key = `${r.workflow}\u0000${r.job}`;
      const o = this.durations.get(key);
      if (!o) this.durations.set(key, r);
      else {
        o.buckets = o.buckets.map((n, i) => n + (r.buckets[i] ?? 0));
        o.count += r.count;
        o.sum += r.sum;
      }
    }
    for (const g of gains) g.c.written -= g.gain;
  }
}
