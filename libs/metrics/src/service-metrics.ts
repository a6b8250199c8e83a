import { Gauge, Registry } from 'prom-client';
import type { Metric, MetricObjectWithValues, MetricValue } from 'prom-client';
import { RUN_STATES, WORKER_DEAD_AFTER_S } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { SchedulingControls } from '@wfs/scheduling';
import { JOB_DURATION_BUCKETS } from './durable-metrics';

const FINISHED_RUN_STATES: readonly string[] = ['complete', 'failed', 'cancelled'];
const LIVE_RUN_STATES = RUN_STATES.filter((s) => !FINISHED_RUN_STATES.includes(s));
const FINISHED_RUNS_EVERY_MS = 60_000;

/** A prom-client metric whose values are read on each scrape (here: from the workers' durable rows). */
function readOnScrape(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  read: () => Promise<MetricValue<string>[]>,
): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    async get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
      return { name, help, type, aggregator: 'sum', values: await read() } as never;
    },
  };
  return metric as unknown as Metric;
}

/**
 * The service's metrics (CONTRACT 5.10), every one computed on scrape from
 * Postgres with queries that read an index or a small table, never the whole
 * of `jobs`: so any API process answers the same, and what a worker observed
 * (job durations, events published) arrives through its durable rows.
 */
export function registerServiceMetrics(
  registry: Registry,
  db: Database,
  scheduling: SchedulingControls,
): void {
  const registers = [registry];
  // Runs by state, one index-only count of runs_state_id per state. Counting the finished ones reads
  // an index entry per run ever made (~90 ms for 200,000 runs on the development machine): they are
  // counted at most once a minute; the live states, few rows, on every scrape.
  const countRuns = async (states: readonly string[]) =>
    db.query<{ state: string; n: number }>(
      `SELECT s.state, (SELECT count(*) FROM runs r WHERE r.state = s.state)::int AS n
       FROM unnest($1::text[]) AS s(state)`,
      [states],
    );
  let finished: { at: number; p: ReturnType<typeof countRuns> } | null = null;
  new Gauge({
    name: 'wfs_runs',
    help: 'Runs by state (complete, failed and cancelled counted at most once a minute)',
    labelNames: ['state'],
    registers,
    async collect() {
      if (!finished || Date.now() - finished.at > FINISHED_RUNS_EVERY_MS) {
        const p = countRuns(FINISHED_RUN_STATES);
        finished = { at: Date.now(), p };
        p.catch(() => (finished = null));
      }
      const [live, done] = await Promise.all([countRuns(LIVE_RUN_STATES), finished.p]);
      this.reset();
      for (const r of [...live, ...done]) this.set({ state: r.state }, r.n);
    },
  });
  // Only the runs in flight (runs_active, then jobs_run_order): finished runs' jobs do not change,
  // and counting them would read every job ever run on each scrape.
  new Gauge({
    name: 'wfs_jobs',
    help: 'Job instances of the runs not finished (submitted or running), by state',
    labelNames: ['state'],
    registers,
    async collect() {
      const rows = await db.query<{ state: string; n: number }>(
        `SELECT j.state, count(*)::int AS n FROM runs r JOIN jobs j ON j.run_id = r.id
         WHERE r.state IN ('submitted', 'running') GROUP BY j.state`,
      );
      this.reset();
      for (const s of [
        'idle',
        'waiting',
        'running',
        'held',
        'completed',
        'failed',
        'skipped',
        'removed',
      ])
        this.set({ state: s }, 0);
      for (const r of rows) this.set({ state: r.state }, r.n);
    },
  });
  new Gauge({
    name: 'wfs_queue_jobs',
    help: 'Job instances by scheduling state: waiting (ready), delayed (retry backoff), placed, active, held',
    labelNames: ['status'],
    registers,
    async collect() {
      const counts = await scheduling.queueCounts();
      for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
    },
  });
  // One read of the ready instances (the jobs_ready index) serves both gauges of a scrape.
  let ready: { at: number; p: Promise<{ n: number; oldest: number | null }> } | null = null;
  const readyJobs = () => {
    if (!ready || Date.now() - ready.at > 1000)
      ready = {
        at: Date.now(),
        p: db
          .query<{ n: number; oldest: number | null }>(
            `SELECT count(*)::int AS n, extract(epoch FROM now() - min(dispatched_at))::float8 AS oldest
             FROM jobs WHERE state = 'idle' AND dispatched_at IS NOT NULL AND worker_id IS NULL
               AND dispatched_at <= now()`,
          )
          .then(([row]) => row ?? { n: 0, oldest: null }),
      };
    return ready.p;
  };
  new Gauge({
    name: 'wfs_jobs_ready',
    help: 'Job instances ready to start and not placed on a worker yet',
    registers,
    async collect() {
      this.set((await readyJobs()).n);
    },
  });
  new Gauge({
    name: 'wfs_jobs_ready_oldest_seconds',
    help: 'How long the longest-waiting ready job instance has waited to be placed (0 when none)',
    registers,
    async collect() {
      this.set(Math.max(0, (await readyJobs()).oldest ?? 0));
    },
  });
  const unpublished = async () => {
    const [row] = await db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM events WHERE published_at IS NULL)
            + (SELECT count(*) FROM workflow_events WHERE published_at IS NULL) AS n`,
    );
    return Number(row?.n ?? 0);
  };
  // The name the dashboard used before 5.10; kept.
  new Gauge({
    name: 'wfs_events_unpublished',
    help: 'Events in the outbox not yet confirmed by the broker',
    registers,
    async collect() {
      this.set(await unpublished());
    },
  });
  new Gauge({
    name: 'wfs_outbox_unpublished_events',
    help: 'Events in the outbox (run and workflow events) not yet confirmed by the broker',
    registers,
    async collect() {
      this.set(await unpublished());
    },
  });
  new Gauge({
    name: 'wfs_outbox_oldest_unpublished_seconds',
    help: 'Age of the oldest run event not yet confirmed by the broker (0 when none waits)',
    registers,
    async collect() {
      // The first of the events_unpublished index: ids grow with time.
      const [row] = await db.query<{ s: number | null }>(
        `SELECT extract(epoch FROM now() - created_at)::float8 AS s
         FROM events WHERE published_at IS NULL ORDER BY id LIMIT 1`,
      );
      this.set(Math.max(0, row?.s ?? 0));
    },
  });
  // One read of the workers serves the three gauges of a scrape.
  let workers: { at: number; p: ReturnType<SchedulingControls['workers']> } | null = null;
  const liveWorkers = async () => {
    if (!workers || Date.now() - workers.at > 1000)
      workers = { at: Date.now(), p: scheduling.workers() };
    return (await workers.p).filter((w) => w.alive);
  };
  new Gauge({
    name: 'wfs_workers_alive',
    help: `Workers whose heartbeat is younger than ${WORKER_DEAD_AFTER_S} s`,
    registers,
    async collect() {
      this.set((await liveWorkers()).length);
    },
  });
  new Gauge({
    name: 'wfs_worker_cpus',
    help: 'Cpus the live workers offer',
    registers,
    async collect() {
      this.set((await liveWorkers()).reduce((n, w) => n + w.cpus, 0));
    },
  });
  new Gauge({
    name: 'wfs_worker_cpus_in_use',
    help: 'Cpus the jobs placed on or running on live workers asked for',
    registers,
    async collect() {
      this.set((await liveWorkers()).reduce((n, w) => n + w.cpusInUse, 0));
    },
  });
  registry.registerMetric(
    readOnScrape(
      'wfs_events_published_total',
      'Events the outbox relays had confirmed by the broker (all workers, since the database was made)',
      'counter',
      async () => {
        const [row] = await db.query<{ value: string }>(
          `SELECT value FROM metric_counters WHERE name = 'events_published'`,
        );
        return [{ value: Number(row?.value ?? 0), labels: {} }];
      },
    ),
  );
  registry.registerMetric(
    readOnScrape(
      'wfs_job_duration_seconds',
      'Job attempts by workflow and job, by how long they ran (claim to recorded outcome)',
      'histogram',
      async () => {
        const rows = await db.query<{
          workflow: string;
          job: string;
          buckets: string[];
          count: string;
          sum: number;
        }>('SELECT workflow, job, buckets, count, sum FROM metric_job_durations ORDER BY 1, 2');
        const values: MetricValue<string>[] = [];
        for (const r of rows) {
          const labels = { workflow: r.workflow, job: r.job };
          let cumulative = 0;
          JOB_DURATION_BUCKETS.forEach((le, i) => {
            cumulative += Number(r.buckets[i] ?? 0);
            values.push({
              metricName: 'wfs_job_duration_seconds_bucket',
              labels: { ...labels, le },
              value: cumulative,
            } as MetricValue<string>);
          });
          values.push(
            {
              metricName: 'wfs_job_duration_seconds_bucket',
              labels: { ...labels, le: '+Inf' },
              value: Number(r.count),
            } as MetricValue<string>,
            {
              metricName: 'wfs_job_duration_seconds_sum',
              labels,
              value: r.sum,
            } as MetricValue<string>,
            {
              metricName: 'wfs_job_duration_seconds_count',
              labels,
              value: Number(r.count),
            } as MetricValue<string>,
          );
        }
        return values;
      },
    ),
  );
}
