/**
 * e2e: N runs of bench_noop3 (a -> b -> c, builtin:noop) POSTed with
 * submit:true by a concurrency-limited client, from the first POST to the
 * terminal AMQP message of the last run at an outside consumer; every event
 * checked. Against L = min(primitive rate / uses per run), the primitives
 * measured here, now, on the same services; and side by side with raw
 * BullMQ flows and a pg-boss chain doing the same DAG.
 */
import { bullmqFlows, pgBossChain } from './compare';
import {
  amqpConfirmRate,
  Bench,
  bullmqNoopRate,
  checkEvents,
  diffCounters,
  now,
  pgCommitRate,
  pgCounters,
  pool,
  postNoop3,
  cpuMeter,
  eventsRow,
  primitiveLimits,
  round,
  Row,
  scaled,
  sleep,
  startBench,
  writeResult,
} from './support';

const N = scaled(3000, 30);
const CLIENTS = 16;
const BASE_MS = scaled(3000, 500);

let b: Bench;
beforeAll(async () => {
  b = await startBench();
});
afterAll(async () => {
  await b?.stop();
});

test(`e2e: ${N} runs of a 3-job no-op DAG`, async () => {
  const db = b.d.config.databaseUrl;
  // ---- baselines, same services, before the load
  const pg1 = await pgCommitRate(db, 1, BASE_MS);
  const pg4 = await pgCommitRate(db, 4, BASE_MS);
  const bull = await bullmqNoopRate(scaled(20000, 500));
  const amqp1 = await amqpConfirmRate(scaled(3000, 200), 1);
  const amqpBatch = await amqpConfirmRate(scaled(30000, 1000), 500);

  // ---- warm up (JIT, pools, prepared plans), not measured
  const warm = await pool(scaled(100, 10), CLIENTS, () => postNoop3(b.d.url));
  await b.consumer.waitTerminal(warm, 120_000);

  // ---- the measured runs
  await sleep(1500);
  const before = await pgCounters(db);
  const cpu = cpuMeter(b.d);
  const t0 = now();
  const ids = await pool(N, CLIENTS, () => postNoop3(b.d.url));
  const postedAt = now();
  const lastTerminal = await b.consumer.waitTerminal(ids, 600_000);
  const seconds = (lastTerminal - t0) / 1000;
  const { per: cpuPerRun, busyShare } = cpu(N, 1e3);
  await sleep(2500); // let backends flush their statistics
  const used = diffCounters(before, await pgCounters(db));
  const runsPerSec = round(N / seconds);

  // ---- correctness: every event of every run, against the events the API lists
  const idSet = new Set(ids);
  const expected = new Map<number, number>();
  for (const id of ids.slice(0, Math.min(ids.length, 200))) {
    const r = await fetch(`${b.d.url}/api/v1/runs/${id}/events?limit=1000`, {
      headers: { authorization: 'Bearer test-viewer-token' },
    });
    expected.set(id, ((await r.json()) as any).items.length);
  }
  const check = checkEvents(b.consumer.messages, idSet, expected);
  const eventsPerRun = check.events / N;

  // ---- uses per run and the limit they imply
  const writesPerRun = used.xid / N;
  const limits = primitiveLimits({
    postgres: { rate: pg4.perSec, uses: writesPerRun },
    bullmq: { rate: bull.perSec, uses: 3 },
    rabbitmq: { rate: amqpBatch.perSec, uses: eventsPerRun },
  });
  const { bound, L } = limits;
  const ratio = runsPerSec / L;

  // ---- side by side: the same DAG without wfs
  const flows = await bullmqFlows(N, CLIENTS);
  const boss = await pgBossChain(db, N, CLIENTS);

  const rows: Row[] = [
    {
      bench: 'e2e',
      figure: 'runs/s (POST -> terminal msg)',
      value: String(runsPerSec),
      baseline: `L=${round(L)} (${bound})`,
      ratio: round(ratio, 2).toFixed(2),
      bar: '>=150 runs/s, >=0.5 L',
      pass: runsPerSec >= 150 && ratio >= 0.5,
    },
    {
      bench: 'e2e',
      figure: 'primitives time-shared: 1/sum(uses/rate)',
      value: String(runsPerSec),
      baseline: `L=${round(limits.shared)}`,
      ratio: round(runsPerSec / limits.shared, 2).toFixed(2),
      bar: '-',
      pass: null,
    },
    eventsRow('e2e', check, `${check.events} events, ${N} runs`),
    {
      bench: 'e2e',
      figure: 'uses/run: pg write tx, bull jobs, msgs',
      value: `${round(writesPerRun, 1)}, 3, ${round(eventsPerRun, 1)}`,
      baseline: `pg4 ${pg4.perSec}/s, bull ${bull.perSec}/s, amqp ${amqpBatch.perSec}/s`,
      ratio: '-',
      bar: '-',
      pass: null,
    },
    {
      bench: 'e2e',
      figure: 'CPU ms/run: api, worker, pg, rabbit, redis, client',
      value: [
        cpuPerRun.api,
        cpuPerRun.worker,
        cpuPerRun.postgres,
        cpuPerRun.rabbitmq,
        cpuPerRun.redis,
        cpuPerRun.bench,
      ].join(', '),
      baseline: `machine ${cpuPerRun.machineBusy} ms/run, ${Math.round(busyShare * 100)}% busy`,
      ratio: '-',
      bar: '-',
      pass: null,
    },
    {
      bench: 'e2e',
      figure: 'raw BullMQ FlowProducer runs/s',
      value: String(flows.runsPerSec),
      baseline: `wfs ${runsPerSec}`,
      ratio: `wfs/flows ${round(runsPerSec / flows.runsPerSec, 2)}`,
      bar: flows.ok && flows.order ? 'ok' : 'INCOMPLETE/ORDER',
      pass: null,
    },
    {
      bench: 'e2e',
      figure: 'pg-boss chain runs/s',
      value: String(boss.runsPerSec),
      baseline: `wfs ${runsPerSec}`,
      ratio: `wfs/pg-boss ${round(runsPerSec / boss.runsPerSec, 2)}`,
      bar: boss.ok && boss.order ? 'ok' : 'INCOMPLETE/ORDER',
      pass: null,
    },
  ];
  writeResult(
    'e2e',
    {
      n: N,
      clients: CLIENTS,
      seconds: round(seconds, 2),
      postSeconds: round((postedAt - t0) / 1000, 2),
      runsPerSec,
      baselines: {
        pgCommits1: pg1,
        pgCommits4: pg4,
        bullmqNoop: bull,
        amqpConfirmSingle: amqp1,
        amqpConfirmBatched: amqpBatch,
      },
      usesPerRun: {
        pgWriteTransactions: round(writesPerRun, 2),
        pgAllTransactions: round(used.xactCommit / N, 2),
        pgWalSyncs: round(used.walSync / N, 2),
        bullmqJobs: 3,
        amqpMessages: round(eventsPerRun, 2),
      },
      limits: Object.fromEntries(Object.entries(limits.each).map(([k, v]) => [k, round(v)])),
      L: round(L),
      sharedL: round(limits.shared),
      boundBy: bound,
      ratio: round(ratio, 3),
      cpuMsPerRun: cpuPerRun,
      machineBusyShare: busyShare,
      check,
      compare: { bullmqFlows: flows, pgBoss: boss },
    },
    rows,
  );
  // Correctness is asserted; speed bars are reported, never thrown.
  expect(check.problems).toEqual([]);
});
