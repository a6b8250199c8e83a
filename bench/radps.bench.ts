/**
 * radps (QUALITY v1.1): one run of about a million job instances
 * (bench_radps_summary: radps_skeleton with `events: summary` on its scattered
 * jobs, F=10 x S=100 x N=500 -> 1,004,023 builtin:work instances with
 * workSeconds 0), POST to the terminal AMQP message. Reports instances/s (and
 * the rate over time, from the group-progress counts), the API's and worker's
 * RSS sampled every second (start, peak, end), Postgres bytes per instance
 * (jobs, events, job_groups), and page latencies measured while the run runs
 * (run detail, job pages at random depths, event pages). BENCH_SCALE scales
 * the scan axis: 0.01 -> N=5, 14,023 instances.
 */
import { Client } from 'pg';
import {
  Bench,
  call,
  checkEvents,
  cpuMeter,
  eventsRow,
  now,
  procMem,
  round,
  Row,
  scaled,
  sleep,
  startBench,
  summarize,
  Summary,
  writeResult,
} from './support';

const F = 10;
const S = 100;
const NSCAN = scaled(500, 1);
const INSTANCES = 2 * F * S * NSCAN + 3 * F * S + 10 * S + 2 * F + 3;
const TABLES = ['jobs', 'events', 'job_groups'] as const;

let b: Bench;
beforeAll(async () => {
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the worker, written there when it stops.
  const prof = process.env.BENCH_CPU_PROF;
  b = await startBench({
    workflows: ['bench_radps_summary.yaml'],
    env: { WFS_MAX_JOBS_PER_RUN: String(Math.max(100_000, INSTANCES + 1000)) },
    ...(prof
      ? {
          workers: [
            { prefix: ['/bin/sh', '-c', `exec "$0" --cpu-prof --cpu-prof-dir=${prof} "$1"`] },
          ],
        }
      : {}),
  });
}, 120_000);
afterAll(async () => {
  await b?.stop();
});

async function tableBytes(db: string): Promise<Record<string, number>> {
  const c = new Client({ connectionString: db });
  await c.connect();
  try {
    const out: Record<string, number> = {};
    for (const t of TABLES) {
      const [r] = (await c.query('SELECT pg_total_relation_size($1::regclass)::bigint AS n', [t]))
        .rows;
      out[t] = Number(r.n);
    }
    return out;
  } finally {
    await c.end();
  }
}

async function timed(p: string): Promise<{ ms: number; body: any }> {
  const t = now();
  const r = await call(b.d.url, 'GET', p, undefined, 'viewer');
  if (r.status !== 200) throw new Error(`GET ${p}: ${r.status}`);
  return { ms: now() - t, body: r.body };
}

const cursor = (position: number, index: number) =>
  Buffer.from(`${position}.${index}`).toString('base64url');

test(
  `radps: one run of ${INSTANCES} instances (events: summary)`,
  async () => {
    const db = b.d.config.databaseUrl;
    const post = async (nField: number, nSpw: number, nScan: number) => {
      const r = await call(b.d.url, 'POST', '/api/v1/workflows/bench_radps_summary/runs', {
        parameters: { nField, nSpw, nScan, workSeconds: 0 },
        submit: true,
      });
      if (r.status !== 201)
        throw new Error(`POST: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      return Number(r.body.id);
    };
    // warm up on a small run (68 instances)
    const warm = await post(1, 3, 4);
    await b.consumer.waitTerminal([warm], 120_000);
    await sleep(1000);

    const apiPid = b.d.api!.pid;
    const workerPid = b.d.workers[0]!.pid;
    const samples: Array<{ s: number; api: number; worker: number }> = [];
    const bytesBefore = await tableBytes(db);
    const cpu = cpuMeter(b.d);
    const t0 = now();
    const sample = () => {
      try {
        samples.push({
          s: round((now() - t0) / 1000),
          api: procMem(apiPid).rssMB,
          worker: procMem(workerPid).rssMB,
        });
      } catch {
        /* process gone */
      }
    };
    sample();
    const sampler = setInterval(sample, 1000);
    const runId = await post(F, S, NSCAN);
    const postMs = now() - t0;

    // ---- pages while it runs: detail, a job page at a random depth, an event page
    const lat = { detail: [] as number[], jobs: [] as number[], events: [] as number[] };
    let running = true;
    let seen = 0;
    let lastSeq = 1;
    const prober = (async () => {
      while (running) {
        try {
          const d = await timed(`/api/v1/runs/${runId}`);
          lat.detail.push(d.ms);
          // A keyset page from a random (position, index): deep in the big groups or past a small one.
          const pos = Math.floor(Math.random() * 17);
          const idx = Math.floor(Math.random() * F * S * NSCAN);
          lat.jobs.push(
            (await timed(`/api/v1/runs/${runId}/jobs?limit=200&cursor=${cursor(pos, idx)}`)).ms,
          );
          for (; seen < b.consumer.messages.length; seen++) {
            const m = b.consumer.messages[seen]!.body;
            if (m.runId === runId) lastSeq = Math.max(lastSeq, Number(m.sequence));
          }
          const after = Math.floor(Math.random() * lastSeq);
          lat.events.push(
            (await timed(`/api/v1/runs/${runId}/events?limit=1000&after=${after}`)).ms,
          );
        } catch {
          /* a probe that failed is not a latency */
        }
        await sleep(250);
      }
    })();

    // The terminal message, or (when the broker went away under the consumer: the machine is
    // shared) the run's own finish time, the events check then failing.
    let finishedAt: number | null = null;
    const end = await Promise.race([
      b.consumer.waitTerminal([runId], 4 * 3600_000),
      (async () => {
        while (running) {
          await sleep(2000);
          const r = await call(b.d.url, 'GET', `/api/v1/runs/${runId}`, undefined, 'viewer').catch(
            () => null,
          );
          if (r?.body?.finishedAt && ['complete', 'failed', 'cancelled'].includes(r.body.state)) {
            finishedAt ??= Date.parse(r.body.finishedAt);
            if (Date.now() - finishedAt > 60_000) return finishedAt;
          }
        }
        return new Promise<number>(() => undefined);
      })(),
    ]);
    running = false;
    await prober;
    const seconds = (end - t0) / 1000;
    const { per: cpuPerInstance, busyShare } = cpu(INSTANCES, 1e6);
    clearInterval(sampler);
    await sleep(2500);
    sample();
    const bytesAfter = await tableBytes(db);
    const perSec = round(INSTANCES / seconds);

    // ---- the rate over time, from the group-progress counts (completed, all groups)
    const completedBy = new Map<string, number>();
    const curve: Array<{ s: number; completed: number }> = [];
    for (const m of b.consumer.messages) {
      if (m.body.runId !== runId || m.body.type !== 'group-progress') continue;
      completedBy.set(m.body.progress.job, m.body.progress.completed);
      let sum = 0;
      for (const v of completedBy.values()) sum += v;
      const s = round((m.at - t0) / 1000, 0);
      if (curve.length && curve[curve.length - 1]!.s === s)
        curve[curve.length - 1]!.completed = sum;
      else curve.push({ s, completed: sum });
    }
    const rateAt = (from: number, to: number) => {
      const a = curve.find((c) => c.s >= from);
      const z = [...curve].reverse().find((c) => c.s <= to);
      return a && z && z.s > a.s ? round((z.completed - a.completed) / (z.s - a.s)) : NaN;
    };
    const tenth = seconds / 10;
    const rates = Array.from({ length: 10 }, (_, i) => rateAt(i * tenth, (i + 1) * tenth));

    // ---- the run at the end: its events listed and checked
    const run = (await timed(`/api/v1/runs/${runId}`)).body;
    const detailAfter: number[] = [];
    for (let i = 0; i < 20; i++) detailAfter.push((await timed(`/api/v1/runs/${runId}`)).ms);
    let after = 0;
    let eventsListed = 0;
    const types = new Map<string, number>();
    for (;;) {
      const r = await timed(`/api/v1/runs/${runId}/events?limit=1000&after=${after}`);
      const items = r.body.items as any[];
      if (items.length === 0) break;
      eventsListed += items.length;
      for (const e of items) types.set(e.type, (types.get(e.type) ?? 0) + 1);
      after = items[items.length - 1].sequence;
    }
    const check = checkEvents(
      b.consumer.messages,
      new Set([runId]),
      new Map([[runId, eventsListed]]),
    );

    const mem = (k: 'api' | 'worker') => {
      const v = samples.map((s) => s[k]);
      return { start: v[0] as number, peak: Math.max(...v), end: v[v.length - 1] as number };
    };
    const api = mem('api');
    const worker = mem('worker');
    const growth = { api: round(api.peak - api.start), worker: round(worker.peak - worker.start) };
    const bytesPer = Object.fromEntries(
      TABLES.map((t) => [t, round((bytesAfter[t]! - bytesBefore[t]!) / INSTANCES)]),
    ) as Record<(typeof TABLES)[number], number>;
    const totalBytesPer = round(bytesPer.jobs + bytesPer.events + bytesPer.job_groups);
    const show = (s: Summary) => `p50 ${s.p50} / p99 ${s.p99} ms (n ${s.n})`;
    const d = summarize(lat.detail);
    const jp = summarize(lat.jobs);
    const ep = summarize(lat.events);
    const da = summarize(detailAfter);
    const rows: Row[] = [
      {
        bench: 'radps',
        figure: `instances/s (${INSTANCES}, POST -> terminal msg)`,
        value: String(perSec),
        baseline: `${round(seconds)} s, POST ${round(postMs)} ms`,
        ratio: '-',
        bar: '>=2000/s, complete',
        pass: perSec >= 2000 && run.state === 'complete',
      },
      {
        bench: 'radps',
        figure: 'instances/s by tenth of the run',
        value: rates.map((r) => (Number.isNaN(r) ? '-' : String(Math.round(r)))).join(' '),
        baseline: '-',
        ratio: '-',
        bar: '-',
        pass: null,
      },
      {
        bench: 'radps',
        figure: 'CPU us/instance: api, worker, pg, rabbit, redis',
        value: [
          cpuPerInstance.api,
          cpuPerInstance.worker,
          cpuPerInstance.postgres,
          cpuPerInstance.rabbitmq,
          cpuPerInstance.redis,
        ].join(', '),
        baseline: `machine ${cpuPerInstance.machineBusy} us/instance, ${Math.round(busyShare * 100)}% busy`,
        ratio: '-',
        bar: '-',
        pass: null,
      },
      {
        bench: 'radps',
        figure: 'RSS MB api / worker: start, peak, end',
        value: `${api.start}, ${api.peak}, ${api.end} / ${worker.start}, ${worker.peak}, ${worker.end}`,
        baseline: `growth ${growth.api} / ${growth.worker} MB`,
        ratio: '-',
        bar: 'growth < 300 MB each',
        pass: growth.api < 300 && growth.worker < 300,
      },
      {
        bench: 'radps',
        figure: 'Postgres bytes/instance: jobs, events, job_groups',
        value: `${bytesPer.jobs}, ${bytesPer.events}, ${bytesPer.job_groups}`,
        baseline: `${totalBytesPer} B/instance, ${round((totalBytesPer * INSTANCES) / 2 ** 20)} MB`,
        ratio: '-',
        bar: 'reported',
        pass: null,
      },
      {
        bench: 'radps',
        figure: 'during the run: GET /runs/{id}',
        value: show(d),
        baseline: `after: p99 ${da.p99} ms`,
        ratio: '-',
        bar: 'p99 <= 50 ms',
        pass: d.p99 <= 50,
      },
      {
        bench: 'radps',
        figure: 'during the run: GET jobs?limit=200 (random depth)',
        value: show(jp),
        baseline: '-',
        ratio: '-',
        bar: 'p99 <= 50 ms',
        pass: jp.p99 <= 50,
      },
      {
        bench: 'radps',
        figure: 'during the run: GET events?limit=1000',
        value: show(ep),
        baseline: `${eventsListed} events in all`,
        ratio: '-',
        bar: 'p99 <= 50 ms',
        pass: ep.p99 <= 50,
      },
      eventsRow(
        'radps',
        check,
        `${check.events} events: ${[...types].map(([t, n]) => `${t} ${n}`).join(', ')}`,
      ),
    ];
    writeResult(
      'radps',
      {
        instances: INSTANCES,
        shape: { nField: F, nSpw: S, nScan: NSCAN },
        seconds: round(seconds, 2),
        postMs: round(postMs),
        instancesPerSec: perSec,
        ratesByTenth: rates,
        cpuMicrosecondsPerInstance: cpuPerInstance,
        machineBusyShare: busyShare,
        memory: { api, worker, growthMB: growth, samples },
        postgres: { bytesBefore, bytesAfter, bytesPerInstance: bytesPer, totalBytesPer },
        latencies: { runDetail: d, jobPages: jp, eventPages: ep, runDetailAfter: da },
        eventTypes: Object.fromEntries(types),
        progressCurve: curve,
        check,
      },
      rows,
    );
    expect(run.state).toBe('complete');
    expect(check.problems).toEqual([]);
    // No per-instance started/completed messages for the summary groups' instances.
    const scattered = new Set(['import_target', 'calibrate_target']);
    expect(
      b.consumer.messages.filter(
        (m) =>
          m.body.runId === runId &&
          (m.body.type === 'job-started' || m.body.type === 'job-completed') &&
          scattered.has(m.body.job?.name),
      ),
    ).toEqual([]);
  },
  4 * 3600_000,
);
