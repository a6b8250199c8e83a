/**
 * fairness: small runs beside a big scatter. One radps_skeleton run of about
 * 100,000 builtin:work instances (nField 1, nSpw 50, workSeconds 0; the
 * scatter bench's workflow, BENCH_SCALE scales it) and, once it is running,
 * 20 bench_noop3 runs (a -> b -> c) POSTed one a second. Each small run's
 * POST -> `complete` message against its time alone (median of 5, same
 * services, same run); the scatter's instances/s while the small runs ran
 * (job-completed messages received in that window) against the same window
 * of the same scatter run alone; every event of every run checked. Only
 * REST and AMQP: nothing here knows how jobs are dispatched.
 */
import * as os from 'node:os';
import {
  Bench,
  call,
  checkEvents,
  EventCheck,
  eventsRow,
  Msg,
  now,
  pool,
  postNoop3,
  round,
  Row,
  scaled,
  sleep,
  startBench,
  summarize,
  writeResult,
} from './support';

const S = 50;
/** radps_skeleton instances for nField f, nSpw S, nScan n (workflows/radps_skeleton.yaml). */
const instances = (f: number, n: number) => 2 * f * S * n + 3 * f * S + 10 * S + 2 * f + 3;
const TARGET = scaled(100_000, 1_000);
const F = Math.max(1, Math.ceil(TARGET / instances(1, 1000)));
const NSCAN = Math.min(1000, Math.max(1, Math.round((TARGET - instances(F, 0)) / (2 * F * S))));
const INSTANCES = instances(F, NSCAN);
/** Small runs during the scatter, one a second. */
const SMALL = scaled(20, 5);
const ALONE = 5;
const BAR_MS = 3000;
/** The scatter counts as running once this many of its instances completed. */
const RUNNING_AT = Math.max(50, Math.round(INSTANCES * 0.02));
const WAIT_MS = 1_800_000;

let b: Bench;
beforeAll(async () => {
  b = await startBench({ env: { WFS_MAX_JOBS_PER_RUN: String(Math.max(100_000, INSTANCES)) } });
});
afterAll(async () => {
  await b?.stop();
});

/** Receive times of each run's job-completed messages, read from the consumer as they come. */
class Progress {
  private scanned = 0;
  readonly done = new Map<number, number[]>();
  constructor(private readonly messages: Msg[]) {}
  scan(): void {
    for (; this.scanned < this.messages.length; this.scanned++) {
      const { body, at } = this.messages[this.scanned] as Msg;
      if (body.type !== 'job-completed') continue;
      const list = this.done.get(body.runId) ?? [];
      list.push(at);
      this.done.set(body.runId, list);
    }
  }
  count(runId: number): number {
    this.scan();
    return this.done.get(runId)?.length ?? 0;
  }
  /** Drops what was read (and the consumer's messages with it), to keep 100,000s of bodies out of memory. */
  reset(): void {
    this.messages.length = 0;
    this.scanned = 0;
    this.done.clear();
  }
}

const inWindow = (times: number[], from: number, to: number) =>
  times.filter((t) => t >= from && t < to).length;

async function postScatter(nScan: number, nSpw = S, nField = F): Promise<number> {
  const r = await call(b.d.url, 'POST', '/api/v1/workflows/radps_skeleton/runs', {
    parameters: { nField, nSpw, nScan, workSeconds: 0 },
    submit: true,
  });
  if (r.status !== 201)
    throw new Error(`POST: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return Number(r.body.id);
}

/** The number of events the API lists for a run (every page). */
async function listedEvents(runId: number): Promise<number> {
  let after = 0;
  let n = 0;
  for (;;) {
    const r = await call(
      b.d.url,
      'GET',
      `/api/v1/runs/${runId}/events?limit=1000&after=${after}`,
      undefined,
      'viewer',
    );
    if (r.status !== 200) throw new Error(`GET events of ${runId}: ${r.status}`);
    const items = r.body.items as any[];
    if (items.length === 0) return n;
    n += items.length;
    after = items[items.length - 1].sequence;
  }
}

async function check(runIds: number[]): Promise<EventCheck> {
  const expected = new Map<number, number>();
  for (const id of runIds) expected.set(id, await listedEvents(id));
  return checkEvents(b.consumer.messages, new Set(runIds), expected);
}

interface ScatterRun {
  runId: number;
  postAt: number;
  /** POST returned (the plan is inserted). */
  postedAt: number;
  /** First job-completed message received. */
  firstAt: number;
  endAt: number;
  /** Receive times of its job-completed messages. */
  done: number[];
  /** [seconds since POST, instances completed], every 5 s. */
  timeline: Array<[number, number]>;
}

test(
  `fairness: ${SMALL} three-job runs beside a ${INSTANCES}-instance scatter`,
  async () => {
    const progress = new Progress(b.consumer.messages);
    const t00 = now();
    // Jest buffers console.log; progress goes to stdout as it happens.
    const log = (m: string) =>
      process.stdout.write(`fairness ${round((now() - t00) / 1000)} s: ${m}\n`);

    // ---- warm up (JIT, pools, prepared plans), not measured
    const warm = await pool(scaled(50, 10), 8, () => postNoop3(b.d.url));
    warm.push(await postScatter(4, 3, 1));
    await b.consumer.waitTerminal(warm, 120_000);
    await sleep(1000);

    // ---- alone: small runs one at a time, on an idle deployment
    const aloneMs: number[] = [];
    const aloneIds: number[] = [];
    for (let i = 0; i < ALONE; i++) {
      const t = now();
      const id = await postNoop3(b.d.url);
      await b.consumer.waitTerminal([id], 60_000);
      aloneMs.push((b.consumer.terminal.get(id) as number) - t);
      aloneIds.push(id);
      await sleep(200);
    }
    const alone = summarize(aloneMs);
    log(`small run alone: p50 ${round(alone.p50)} ms`);

    // ---- alone: the scatter by itself
    const runScatter = async (
      during?: (s: { runId: number; postedAt: number }) => Promise<void>,
    ) => {
      const postAt = now();
      const runId = await postScatter(NSCAN);
      const postedAt = now();
      log(
        `scatter ${runId} (${INSTANCES} instances) POST took ${round((postedAt - postAt) / 1000, 2)} s`,
      );
      const timeline: Array<[number, number]> = [];
      const timer = setInterval(() => {
        timeline.push([round((now() - postAt) / 1000), progress.count(runId)]);
        if (timeline.length % 4 === 0) log(`scatter ${runId}: ${timeline.at(-1)![1]} done`);
      }, 5000);
      try {
        await during?.({ runId, postedAt });
        const endAt = await b.consumer.waitTerminal([runId], WAIT_MS);
        progress.scan();
        const done = progress.done.get(runId) ?? [];
        log(`scatter ${runId} complete after ${round((endAt - postAt) / 1000)} s`);
        return { runId, postAt, postedAt, firstAt: done[0] ?? NaN, endAt, done, timeline };
      } finally {
        clearInterval(timer);
      }
    };
    const s1 = await runScatter();
    await sleep(1000);
    const aloneCheck = await check([...aloneIds, s1.runId]);
    log(`alone runs checked (${aloneCheck.events} events)`);
    const s1done = s1.done; // kept: the alone window is taken once the together window is known
    progress.reset();
    await sleep(2000);

    // ---- together: the scatter again, and the small runs once it is running
    const small: Array<{ id: number; postAt: number; postMs: number; scatterDone: number }> = [];
    let windowFrom = NaN;
    const s2 = await runScatter(async ({ runId }) => {
      const deadline = now() + WAIT_MS;
      while (progress.count(runId) < RUNNING_AT) {
        if (now() > deadline) throw new Error('the scatter never started');
        await sleep(20);
      }
      const start = now();
      windowFrom = start;
      const posts: Promise<void>[] = [];
      for (let i = 0; i < SMALL; i++) {
        const wait = start + i * 1000 - now();
        if (wait > 1) await sleep(wait);
        const postAt = now();
        const scatterDone = progress.count(runId);
        posts.push(
          postNoop3(b.d.url).then((id) => {
            small.push({ id, postAt, postMs: now() - postAt, scatterDone });
          }),
        );
      }
      await Promise.all(posts);
      log(`${SMALL} small runs posted`);
      await b.consumer.waitTerminal(
        small.map((r) => r.id),
        WAIT_MS,
      );
    });
    small.sort((x, y) => x.postAt - y.postAt);
    const lat = small.map((r) => (b.consumer.terminal.get(r.id) as number) - r.postAt);
    const together = summarize(lat);
    const lastSmall = Math.max(...small.map((r) => b.consumer.terminal.get(r.id) as number));
    await sleep(1000);
    const togetherCheck = await check([...small.map((r) => r.id), s2.runId]);
    log(`together runs checked (${togetherCheck.events} events)`);

    // ---- the scatter's rate while the small runs ran, and over the same window of the run alone
    const windowTo = Math.min(lastSmall, s2.endAt);
    const from = windowFrom - s2.firstAt;
    const to = windowTo - s2.firstAt;
    const aloneTo = Math.min(s1.firstAt + to, s1.endAt);
    const rate = (n: number, ms: number) => round(n / (ms / 1000));
    const togetherRate = rate(inWindow(s2.done, windowFrom, windowTo), windowTo - windowFrom);
    const aloneRate = rate(
      inWindow(s1done, s1.firstAt + from, aloneTo),
      aloneTo - (s1.firstAt + from),
    );
    const rateRatio = togetherRate / aloneRate;
    const total = (s: ScatterRun) => (s.endAt - s.postAt) / 1000;
    const p99Bar = alone.p50 + BAR_MS;

    const ms = (x: number) => String(Math.round(x));
    const rows: Row[] = [
      {
        bench: 'fairness',
        figure: `small run POST -> complete msg, ${SMALL} during the scatter`,
        value: `p50 ${ms(together.p50)} / p99 ${ms(together.p99)} ms`,
        baseline: `alone p50 ${ms(alone.p50)} ms (${ALONE} runs)`,
        ratio: `p99 +${ms(together.p99 - alone.p50)} ms`,
        bar: `p99 <= alone + ${BAR_MS} ms`,
        pass: together.p99 <= p99Bar,
      },
      {
        bench: 'fairness',
        figure: `scatter inst/s while the small runs ran (${round((windowTo - windowFrom) / 1000)} s)`,
        value: String(togetherRate),
        baseline: `alone ${aloneRate} (same window of its run alone)`,
        ratio: round(rateRatio, 2).toFixed(2),
        bar: '>= 0.8 alone',
        pass: rateRatio >= 0.8,
      },
      {
        bench: 'fairness',
        figure: `scatter POST -> complete msg (${INSTANCES} instances)`,
        value: `${round(total(s2))} s (${rate(INSTANCES, s2.endAt - s2.postAt)}/s)`,
        baseline: `alone ${round(total(s1))} s (${rate(INSTANCES, s1.endAt - s1.postAt)}/s)`,
        ratio: round(total(s2) / total(s1), 2).toFixed(2),
        bar: '-',
        pass: null,
      },
      {
        ...eventsRow('fairness', togetherCheck, `${togetherCheck.events} events`),
        figure: `events of the ${SMALL + 1} runs together: lost/dup/reordered/not complete`,
      },
      {
        ...eventsRow('fairness', aloneCheck, `${aloneCheck.events} events`),
        figure: `events of the ${ALONE + 1} runs alone: lost/dup/reordered/not complete`,
      },
    ];
    const rel = (t: number) => round((t - s2.postAt) / 1000, 2);
    writeResult(
      'fairness',
      {
        instances: INSTANCES,
        shape: { nField: F, nSpw: S, nScan: NSCAN },
        smallRuns: SMALL,
        runningAt: RUNNING_AT,
        seconds: round((now() - t00) / 1000, 1),
        loadAverage: os.loadavg().map((x) => round(x, 2)),
        alone: {
          smallMs: aloneMs.map(round),
          small: alone,
          scatter: {
            runId: s1.runId,
            postSeconds: round((s1.postedAt - s1.postAt) / 1000, 2),
            seconds: round(total(s1), 2),
            windowInstancesPerSec: aloneRate,
            timeline: s1.timeline,
          },
        },
        together: {
          small: together,
          runs: small.map((r, i) => ({
            id: r.id,
            postedAtSeconds: rel(r.postAt),
            postMs: round(r.postMs),
            latencyMs: round(lat[i] as number),
            scatterInstancesLeft: INSTANCES - r.scatterDone,
          })),
          scatter: {
            runId: s2.runId,
            postSeconds: round((s2.postedAt - s2.postAt) / 1000, 2),
            firstCompletedSeconds: rel(s2.firstAt),
            seconds: round(total(s2), 2),
            window: { fromSeconds: rel(windowFrom), toSeconds: rel(windowTo) },
            windowInstancesPerSec: togetherRate,
            timeline: s2.timeline,
          },
        },
        rateRatio: round(rateRatio, 3),
        checks: { together: togetherCheck, alone: aloneCheck },
      },
      rows,
    );
    // Correctness is asserted; the fairness bars are reported, never thrown.
    expect(togetherCheck.problems).toEqual([]);
    expect(aloneCheck.problems).toEqual([]);
    // Two 100,000-instance scatters at a few hundred instances/s: more than the benches' 15 minutes.
  },
  45 * 60_000,
);
