/**
 * latency: a state change committed -> its AMQP message at an outside
 * consumer. Every event carries occurredAt (clock_timestamp() inside the
 * transaction that made the change); the consumer stamps the receive time on
 * the same machine. Load: bench_noop3 runs POSTed open-loop at 50% of the
 * e2e bench's throughput (from bench/results/latest-e2e.json, or measured
 * here when that is missing).
 */
import {
  eventsRow,
  amqpTripLatency,
  Bench,
  checkEvents,
  openLoop,
  pgCommitRate,
  pool,
  postNoop3,
  readLatest,
  round,
  Row,
  scaled,
  sleep,
  startBench,
  summarize,
  writeResult,
  now,
} from './support';

const DURATION_MS = scaled(15_000, 3000);

let b: Bench;
beforeAll(async () => {
  b = await startBench();
});
afterAll(async () => {
  await b?.stop();
});

test('latency: commit -> message at a consumer at 50% of max throughput', async () => {
  // ---- warm up, and the max throughput to take half of
  const warm = await pool(scaled(100, 10), 16, () => postNoop3(b.d.url));
  await b.consumer.waitTerminal(warm, 120_000);
  const e2e = readLatest('e2e');
  let max: number = e2e?.runsPerSec;
  let maxFrom = 'bench/results/latest-e2e.json';
  if (!max) {
    const n = scaled(500, 30);
    const t0 = now();
    const ids = await pool(n, 16, () => postNoop3(b.d.url));
    max = (n / ((await b.consumer.waitTerminal(ids, 300_000)) - t0)) * 1000;
    maxFrom = `measured here (${n} runs)`;
  }
  const rate = Math.max(1, max / 2);

  // ---- the floor: one durable commit + one confirmed persistent publish -> consume
  const pg1 = await pgCommitRate(b.d.config.databaseUrl, 1, scaled(2000, 500));
  const trip = await amqpTripLatency(Math.min(1000, rate * 10), scaled(3000, 1000));

  // ---- paced load
  await sleep(500);
  const ids: number[] = [];
  const load = await openLoop(rate, DURATION_MS, async () => {
    ids.push(await postNoop3(b.d.url));
    return true;
  });
  await b.consumer.waitTerminal(ids, 300_000);
  const idSet = new Set(ids);
  const mine = b.consumer.messages.filter((m) => idSet.has(m.body.runId));
  const lat = mine.map((m) => m.at - Date.parse(m.body.occurredAt));
  const all = summarize(lat);
  const jobs = summarize(
    mine
      .filter((m) => m.body.type.startsWith('job-'))
      .map((m) => m.at - Date.parse(m.body.occurredAt)),
  );
  const check = checkEvents(b.consumer.messages, idSet);
  const floor = {
    p50: round(pg1.latency.p50 + trip.p50, 2),
    p99: round(pg1.latency.p99 + trip.p99, 2),
  };

  const rows: Row[] = [
    {
      bench: 'latency',
      figure: `commit -> consumer, ${round(rate)} runs/s (${mine.length} events)`,
      value: `p50 ${all.p50} / p99 ${all.p99} ms`,
      baseline: `floor p50 ${floor.p50} / p99 ${floor.p99} ms`,
      ratio: `p50 x${round(all.p50 / floor.p50, 1)}`,
      bar: 'p50 <= 20, p99 <= 100 ms',
      pass: all.p50 <= 20 && all.p99 <= 100,
    },
    {
      bench: 'latency',
      figure: 'job-* events only',
      value: `p50 ${jobs.p50} / p99 ${jobs.p99} ms`,
      baseline: '-',
      ratio: '-',
      bar: '-',
      pass: null,
    },
    eventsRow('latency', check, `${check.events} events`),
  ];
  writeResult(
    'latency',
    {
      maxRunsPerSec: round(max),
      maxFrom,
      rate: round(rate, 2),
      durationMs: DURATION_MS,
      runs: ids.length,
      load: { errors: load.errors, sent: load.sent, generatorLateMs: round(load.lateMs) },
      latency: all,
      jobEvents: jobs,
      baselines: { pgCommit1Latency: pg1.latency, amqpConfirmedTrip: trip, floor },
      check,
    },
    rows,
  );
  expect(check.problems).toEqual([]);
});
