/**
 * scatter: radps_skeleton runs of two sizes, one after the other (nField 1,
 * nSpw 50, nScan 100 -> 10,655 and nScan 1000 -> 100,655 builtin:work
 * instances with workSeconds 0; BENCH_SCATTER_SCANS="100,1000" chooses the
 * nScans, BENCH_SCALE scales them), each POST to the terminal AMQP message;
 * instances/s against the limit of the primitives measured here; CPU per
 * instance at each size (the curve: it should not grow with N); the API's
 * and worker's memory before, during (peak) and after; and the run's detail,
 * job pages and event pages timed on that run.
 */
import {
  amqpConfirmRate,
  apiHeap,
  Bench,
  bullmqNoopRate,
  call,
  checkEvents,
  diffCounters,
  now,
  pgCommitRate,
  pgCounters,
  procMem,
  cpuMeter,
  eventsRow,
  primitiveLimits,
  round,
  Row,
  scaled,
  sleep,
  startBench,
  summarize,
  Summary,
  writeResult,
} from './support';

const F = 1;
const S = 50;
const SCANS = (process.env.BENCH_SCATTER_SCANS ?? '100,1000')
  .split(',')
  .map((n) => Math.min(1000, scaled(Number(n), 1)));
const instancesOf = (nScan: number) => 2 * F * S * nScan + 3 * F * S + 10 * S + 2 * F + 3;

let b: Bench;
beforeAll(async () => {
  // 100,655 instances is above the default WFS_MAX_JOBS_PER_RUN (100,000).
  b = await startBench({ env: { WFS_MAX_JOBS_PER_RUN: '1000000' } });
});
afterAll(async () => {
  await b?.stop();
});

async function timed(p: string): Promise<{ ms: number; body: any }> {
  const t = now();
  const r = await call(b.d.url, 'GET', p, undefined, 'viewer');
  if (r.status !== 200) throw new Error(`GET ${p}: ${r.status}`);
  return { ms: now() - t, body: r.body };
}

test(
  `scatter: radps_skeleton runs of ${SCANS.map(instancesOf).join(', ')} instances`,
  async () => {
    const db = b.d.config.databaseUrl;
    const BASE_MS = scaled(3000, 500);
    const pg4 = await pgCommitRate(db, 4, BASE_MS);
    const bull = await bullmqNoopRate(scaled(20000, 500));
    const amqpBatch = await amqpConfirmRate(scaled(30000, 1000), 500);

    const post = async (nScan: number, nSpw = S) => {
      const r = await call(b.d.url, 'POST', '/api/v1/workflows/radps_skeleton/runs', {
        parameters: { nField: F, nSpw, nScan, workSeconds: 0 },
        submit: true,
      });
      if (r.status !== 201)
        throw new Error(`POST: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      return Number(r.body.id);
    };
    // warm up on a small run (68 instances)
    const warm = await post(4, 3);
    await b.consumer.waitTerminal([warm], 120_000);
    await sleep(1000);

    const rows: Row[] = [];
    const data: Record<string, unknown>[] = [];
    for (const nScan of SCANS) {
      const r = await measure(nScan, post, { pg4, bull, amqpBatch });
      rows.push(...r.rows);
      data.push(r.data);
    }
    const curve = data.map((x: any) => ({
      instances: x.instances as number,
      perSec: x.instancesPerSec as number,
      cpu: x.cpuMicrosecondsPerInstance as {
        worker: number;
        postgres: number;
        machineBusy: number;
      },
    }));
    const [small, large] = [curve[0], curve[curve.length - 1]];
    if (small && large && large !== small)
      rows.push({
        bench: 'scatter',
        figure: 'curve: instances/s; machine CPU us/instance (worker, pg)',
        value: curve
          .map(
            (c) =>
              `${c.instances}: ${c.perSec}/s; ${c.cpu.machineBusy} (${c.cpu.worker}, ${c.cpu.postgres})`,
          )
          .join(' | '),
        baseline: '-',
        ratio: round(large.cpu.machineBusy / small.cpu.machineBusy, 2).toFixed(2),
        bar: 'CPU/instance ratio <= 1.2',
        pass: large.cpu.machineBusy / small.cpu.machineBusy <= 1.2,
      });
    const first = data[0] as Record<string, unknown>;
    writeResult('scatter', { ...first, sizes: data, curve }, rows);
    for (const x of data as any[]) {
      expect(x.state).toBe('complete');
      expect(x.jobsSeen).toBe(x.instances);
      expect(x.check.problems).toEqual([]);
    }
  },
  90 * 60_000,
);

async function measure(
  NSCAN: number,
  post: (nScan: number, nSpw?: number) => Promise<number>,
  baselines: {
    pg4: { perSec: number };
    bull: { perSec: number };
    amqpBatch: { perSec: number };
  },
): Promise<{ rows: Row[]; data: Record<string, unknown> }> {
  const db = b.d.config.databaseUrl;
  const { pg4, bull, amqpBatch } = baselines;
  const INSTANCES = instancesOf(NSCAN);
  const apiPid = b.d.api!.pid;
  const workerPid = b.d.workers[0]!.pid;
  const memBefore = {
    api: procMem(apiPid),
    worker: procMem(workerPid),
    apiHeap: await apiHeap(b.d.url),
  };
  const peak = { api: memBefore.api.rssMB, worker: memBefore.worker.rssMB };
  const sampler = setInterval(() => {
    try {
      peak.api = Math.max(peak.api, procMem(apiPid).rssMB);
      peak.worker = Math.max(peak.worker, procMem(workerPid).rssMB);
    } catch {
      /* process gone */
    }
  }, 250);

  const before = await pgCounters(db);
  const cpu = cpuMeter(b.d);
  const t0 = now();
  const runId = await post(NSCAN);
  const postMs = now() - t0;
  const end = await b.consumer.waitTerminal([runId], 3600_000);
  const seconds = (end - t0) / 1000;
  const { per: cpuPerInstance, busyShare } = cpu(INSTANCES, 1e6);
  clearInterval(sampler);
  await sleep(2500);
  const used = diffCounters(before, await pgCounters(db));
  const memAfter = {
    api: procMem(apiPid),
    worker: procMem(workerPid),
    apiHeap: await apiHeap(b.d.url),
  };
  const perSec = round(INSTANCES / seconds);

  // ---- the run stays readable: detail, every job page, every event page
  const detail: number[] = [];
  for (let i = 0; i < 20; i++) detail.push((await timed(`/api/v1/runs/${runId}`)).ms);
  const run = (await timed(`/api/v1/runs/${runId}`)).body;
  const jobPages: number[] = [];
  let jobsSeen = 0;
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `&cursor=${cursor}` : '';
    const r = await timed(`/api/v1/runs/${runId}/jobs?limit=200${q}`);
    jobPages.push(r.ms);
    jobsSeen += r.body.items.length;
    cursor = r.body.nextCursor;
  } while (cursor);
  const eventPages: number[] = [];
  let after = 0;
  let eventsListed = 0;
  for (;;) {
    const r = await timed(`/api/v1/runs/${runId}/events?limit=1000&after=${after}`);
    eventPages.push(r.ms);
    const items = r.body.items as any[];
    if (items.length === 0) break;
    eventsListed += items.length;
    after = items[items.length - 1].sequence;
  }
  const check = checkEvents(
    b.consumer.messages,
    new Set([runId]),
    new Map([[runId, eventsListed]]),
  );

  const msgsPer = check.events / INSTANCES;
  const writesPer = used.xid / INSTANCES;
  const limits = primitiveLimits({
    postgres: { rate: pg4.perSec, uses: writesPer },
    bullmq: { rate: bull.perSec, uses: 1 },
    rabbitmq: { rate: amqpBatch.perSec, uses: msgsPer },
  });
  const { bound, L } = limits;
  const growth = {
    api: round(memAfter.api.rssMB - memBefore.api.rssMB),
    worker: round(memAfter.worker.rssMB - memBefore.worker.rssMB),
  };
  const lat = (s: Summary) => `p50 ${s.p50} / p99 ${s.p99} ms`;
  const d = summarize(detail);
  const jp = summarize(jobPages);
  const ep = summarize(eventPages);
  const rows: Row[] = [
    {
      bench: 'scatter',
      figure: `instances/s (${INSTANCES}, POST -> terminal msg)`,
      value: String(perSec),
      baseline: `L=${round(L)} (${bound})`,
      ratio: round(perSec / L, 2).toFixed(2),
      bar: '>=1000/s',
      pass: perSec >= 1000 && run.state === 'complete',
    },
    {
      bench: 'scatter',
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
      bench: 'scatter',
      figure: 'RSS MB api / worker: before -> after (peak)',
      value: `${memBefore.api.rssMB}->${memAfter.api.rssMB} (${peak.api}) / ${memBefore.worker.rssMB}->${memAfter.worker.rssMB} (${peak.worker})`,
      baseline: `api heap ${memBefore.apiHeap.heapUsedMB}->${memAfter.apiHeap.heapUsedMB} MB`,
      ratio: '-',
      bar: 'growth < 100 MB each',
      pass: growth.api < 100 && growth.worker < 100,
    },
    {
      bench: 'scatter',
      figure: 'GET /runs/{id} (x20)',
      value: lat(d),
      baseline: '-',
      ratio: '-',
      bar: 'p99 <= 50 ms',
      pass: d.p99 <= 50,
    },
    {
      bench: 'scatter',
      figure: `GET jobs?limit=200, all ${jobPages.length} pages`,
      value: lat(jp),
      baseline: `${jobsSeen} jobs listed`,
      ratio: '-',
      bar: 'p99 <= 50 ms, all listed',
      pass: jp.p99 <= 50 && jobsSeen === INSTANCES,
    },
    {
      bench: 'scatter',
      figure: `GET events?limit=1000, all ${eventPages.length} pages`,
      value: lat(ep),
      baseline: `${eventsListed} events listed`,
      ratio: '-',
      bar: 'p99 <= 100 ms',
      pass: ep.p99 <= 100,
    },
    eventsRow('scatter', check, `${check.events} events`),
  ];
  return {
    rows: rows.map((r) =>
      r.figure.includes(String(INSTANCES)) ? r : { ...r, figure: `${r.figure} [${INSTANCES}]` },
    ),
    data: {
      instances: INSTANCES,
      shape: { nField: F, nSpw: S, nScan: NSCAN },
      seconds: round(seconds, 2),
      postMs: round(postMs),
      instancesPerSec: perSec,
      cpuMicrosecondsPerInstance: cpuPerInstance,
      machineBusyShare: busyShare,
      baselines: { pgCommits4: pg4, bullmqNoop: bull, amqpConfirmBatched: amqpBatch },
      usesPerInstance: {
        pgWriteTransactions: round(writesPer, 2),
        pgAllTransactions: round(used.xactCommit / INSTANCES, 2),
        pgWalSyncs: round(used.walSync / INSTANCES, 3),
        bullmqJobs: 1,
        amqpMessages: round(msgsPer, 2),
      },
      limits: Object.fromEntries(Object.entries(limits.each).map(([k, v]) => [k, round(v)])),
      L: round(L),
      memory: { before: memBefore, after: memAfter, peakRssMB: peak, growthMB: growth },
      latencies: { runDetail: d, jobPages: jp, eventPages: ep },
      check,
      state: run.state,
      jobsSeen,
    },
  };
}
