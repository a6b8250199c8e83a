/**
 * Shared pieces of the benchmarks (bench/*.bench.ts, run by `npm run bench`):
 * a wfs deployment of real processes with the bench workflow and an outside
 * AMQP consumer, the raw baselines measured on the same services, load
 * generators, the event checks, and the result table/JSON.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as amqp from 'amqplib';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { Deployment, startDeployment, TOKENS, WorkerOptions } from '@wfs/testing';

export const REPO = path.resolve(__dirname, '..');
/** Where results go: bench/results, or BENCH_RESULTS_DIR (the bench smoke test in npm test uses its own). */
export const RESULTS = process.env.BENCH_RESULTS_DIR ?? path.join(__dirname, 'results');
export const SCALE = Number(process.env.BENCH_SCALE ?? '1') || 1;
export const scaled = (n: number, min = 1): number => Math.max(min, Math.round(n * SCALE));
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const now = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rid = () => randomBytes(4).toString('hex');

// ------------------------------------------------------------------ stats

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}
export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    n: s.length,
    p50: r(pct(s, 50)),
    p99: r(pct(s, 99)),
    p999: r(pct(s, 99.9)),
    max: r(s[s.length - 1] ?? NaN),
    mean: r(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
  };
}
export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

// ------------------------------------------------------------------ results

export interface Row {
  bench: string;
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  bar: string;
  /** null: informational, no bar. */
  pass: boolean | null;
}

export function printTable(rows: Row[]): string {
  const head = ['bench', 'figure', 'value', 'baseline', 'ratio', 'bar', 'pass'];
  const cells = rows.map((r) => [
    r.bench,
    r.figure,
    r.value,
    r.baseline,
    r.ratio,
    r.bar,
    r.pass === null ? '-' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) => '| ' + c.map((x, i) => x.padEnd(w[i] as number)).join(' | ') + ' |';
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n');
}

export function writeResult(bench: string, data: Record<string, unknown>, rows: Row[]): void {
  fs.mkdirSync(RESULTS, { recursive: true });
  const doc = {
    bench,
    at: new Date().toISOString(),
    scale: SCALE,
    machine: { cpus: os.cpus().length, node: process.version, mem: os.totalmem() },
    rows,
    ...data,
  };
  const stamp = doc.at.replace(/[:.]/g, '-');
  fs.writeFileSync(path.join(RESULTS, `${bench}-${stamp}.json`), JSON.stringify(doc, null, 2));
  fs.writeFileSync(path.join(RESULTS, `latest-${bench}.json`), JSON.stringify(doc, null, 2));
  // Jest buffers console.log; stdout gets the table as it is.
  process.stdout.write(`\n${bench}:\n${printTable(rows)}\n`);
}

export function readLatest(bench: string): any | null {
  const f = path.join(RESULTS, `latest-${bench}.json`);
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null;
}

// ------------------------------------------------------------------ deployment

export interface Bench {
  d: Deployment;
  queue: string;
  consumer: Consumer;
  workflowsDir: string;
  stop(): Promise<void>;
}

/**
 * The compiled API and worker(s) as separate processes (as deployed), with
 * the shipped workflows plus bench_noop3, and a durable outside queue bound
 * to every run event before any load.
 */
export async function startBench(
  opts: {
    workers?: number | WorkerOptions[];
    env?: Record<string, string>;
    /** More bench-only workflows (file names in bench/). */
    workflows?: string[];
  } = {},
): Promise<Bench> {
  const workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-bench-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  for (const f of ['bench_noop3.yaml', ...(opts.workflows ?? [])])
    fs.copyFileSync(path.join(__dirname, f), path.join(workflowsDir, f));
  const queue = `wfsbench-${rid()}.consumer`;
  const d = await startDeployment({
    workers: opts.workers ?? 1,
    env: {
      WFS_WORKFLOWS_DIR: workflowsDir,
      WFS_SUBSCRIBER_QUEUES: `${queue}=run.#`,
      WFS_LOG_LEVEL: 'warn',
      WFS_WORKER_CONCURRENCY: '50', // as the BullMQ baseline's worker
      // Room for the definitions' requests whatever this host has (the steps use next to nothing).
      WFS_WORKER_CPUS: '64',
      WFS_WORKER_MEMORY: '256G',
      ...opts.env,
    },
  });
  const consumer = await consume(d.config.amqpUrl, queue);
  return {
    d,
    queue,
    consumer,
    workflowsDir,
    async stop() {
      await consumer.close();
      await d.stop();
      fs.rmSync(workflowsDir, { recursive: true, force: true });
    },
  };
}

/** fetch against the API; role da by default. */
export async function call(
  url: string,
  method: string,
  p: string,
  body?: unknown,
  role: keyof typeof TOKENS = 'da',
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${TOKENS[role]}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + p, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}

/** Creates and submits a bench_noop3 run; returns its id. */
export async function postNoop3(url: string): Promise<number> {
  const r = await call(url, 'POST', '/api/v1/workflows/bench_noop3/runs', { submit: true });
  if (r.status !== 201)
    throw new Error(`POST runs: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return Number(r.body.id);
}

// ------------------------------------------------------------------ events

export interface Msg {
  body: any;
  at: number;
}
export interface Consumer {
  messages: Msg[];
  /** runId -> receive time of its terminal event. */
  terminal: Map<number, number>;
  waitTerminal(runIds: Iterable<number>, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

const TERMINAL = new Set(['complete', 'failed', 'cancelled']);

export async function consume(url: string, queue: string): Promise<Consumer> {
  const messages: Msg[] = [];
  const terminal = new Map<number, number>();
  let closing = false;
  let current: { connection: amqp.ChannelModel; ch: amqp.Channel } | null = null;
  // The machine's broker is shared: when its vhost is restarted under us (another suite's fault
  // test), connect again and go on reading the durable queue; a redelivered message counts as a
  // duplicate in checkEvents, never as a loss.
  const open = async (): Promise<void> => {
    const connection = await amqp.connect(url);
    const ch = await connection.createChannel();
    await ch.prefetch(2000);
    current = { connection, ch };
    connection.on('error', () => undefined);
    connection.on('close', () => {
      current = null;
      if (!closing) void reopen();
    });
    await ch.consume(queue, (m) => {
      if (!m) return;
      const at = now();
      const body = JSON.parse(m.content.toString());
      messages.push({ body, at });
      if (TERMINAL.has(body.type) && !terminal.has(body.runId)) terminal.set(body.runId, at);
      ch.ack(m);
    });
  };
  const reopen = async (): Promise<void> => {
    while (!closing) {
      await sleep(500);
      try {
        await open();
        return;
      } catch {
        /* the broker is not back yet */
      }
    }
  };
  await open();
  return {
    messages,
    terminal,
    async waitTerminal(runIds, timeoutMs) {
      const ids = [...runIds];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const missing = ids.filter((id) => !terminal.has(id));
        if (missing.length === 0) return Math.max(...ids.map((id) => terminal.get(id) as number));
        if (Date.now() > deadline)
          throw new Error(
            `${missing.length} run(s) never reached a terminal message, e.g. ${missing.slice(0, 5)}`,
          );
        await sleep(10);
      }
    },
    async close() {
      closing = true;
      const c = current as { connection: amqp.ChannelModel; ch: amqp.Channel } | null;
      await c?.ch.close().catch(() => undefined);
      await c?.connection.close().catch(() => undefined);
    },
  };
}

export interface EventCheck {
  runs: number;
  events: number;
  duplicates: number;
  lost: number;
  reordered: number;
  notComplete: number;
  problems: string[];
  ok: boolean;
}

/**
 * The events of the given runs as a consumer got them: each run's sequences
 * 1..n in receive order (after dropping redelivered messageIds, which
 * at-least-once allows but which a quiet run should not have), ending with
 * `complete`, and the number of events the API lists for it (lost = listed
 * but never received).
 */
export function checkEvents(
  messages: Msg[],
  runIds: Set<number>,
  expected?: Map<number, number>,
): EventCheck {
  const seen = new Set<string>();
  const byRun = new Map<number, any[]>();
  let duplicates = 0;
  let events = 0;
  for (const { body } of messages) {
    if (!runIds.has(body.runId)) continue;
    if (seen.has(body.messageId)) {
      duplicates++;
      continue;
    }
    seen.add(body.messageId);
    events++;
    const list = byRun.get(body.runId) ?? [];
    list.push(body);
    byRun.set(body.runId, list);
  }
  const problems: string[] = [];
  let lost = 0;
  let reordered = 0;
  let notComplete = 0;
  for (const id of runIds) {
    const list = byRun.get(id) ?? [];
    const seqs = list.map((b) => b.sequence as number);
    for (let i = 1; i < seqs.length; i++)
      if ((seqs[i] as number) < (seqs[i - 1] as number)) {
        reordered++;
        problems.push(`run ${id}: sequence ${seqs[i]} after ${seqs[i - 1]}`);
      }
    const max = seqs.reduce((m, s) => Math.max(m, s), 0); // no spread: a run may have 200,000 events
    const want = expected?.get(id) ?? max;
    const got = new Set(seqs).size;
    if (got < want) {
      lost += want - got;
      problems.push(`run ${id}: ${want - got} of ${want} events never received`);
    }
    const last = list[list.length - 1];
    if (!last || last.type !== 'complete') {
      notComplete++;
      problems.push(`run ${id}: last event ${last?.type ?? 'none'}`);
    }
  }
  return {
    runs: runIds.size,
    events,
    duplicates,
    lost,
    reordered,
    notComplete,
    problems: problems.slice(0, 20),
    ok: duplicates === 0 && lost === 0 && reordered === 0 && notComplete === 0,
  };
}

// ------------------------------------------------------------------ load

/** Runs fn(0..n-1) with at most `concurrency` in flight. */
export async function pool<T>(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/**
 * Open-loop load: request i is due at start + i/rate whatever the others do;
 * its latency counts from when it was due (no coordinated omission).
 */
export async function openLoop(
  rate: number,
  durationMs: number,
  fn: (i: number) => Promise<boolean>,
): Promise<{ latencies: number[]; errors: number; sent: number; lateMs: number }> {
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const latencies: number[] = [];
  let errors = 0;
  let lateMs = 0;
  const inflight: Promise<void>[] = [];
  const start = now() + 20;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    lateMs = Math.max(lateMs, now() - due);
    inflight.push(
      fn(i).then(
        (ok) => {
          if (ok) latencies.push(now() - due);
          else errors++;
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(inflight);
  return { latencies, errors, sent: total, lateMs };
}

// ------------------------------------------------------------------ process memory

export function procMem(pid: number): { rssMB: number; hwmMB: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { rssMB: round(kb('VmRSS') / 1024), hwmMB: round(kb('VmHWM') / 1024) };
}

/** The API's own heap figures from its /metrics (prom-client default metrics). */
export async function apiHeap(url: string): Promise<{ heapUsedMB: number; rssMB: number }> {
  const res = await fetch(`${url}/metrics`, {
    headers: { authorization: `Bearer ${TOKENS.admin}` },
  });
  const text = await res.text();
  const v = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    heapUsedMB: round(v('wfs_api_nodejs_heap_size_used_bytes') / 2 ** 20),
    rssMB: round(v('wfs_api_process_resident_memory_bytes') / 2 ** 20),
  };
}

// ------------------------------------------------------------------ Postgres counters

export interface PgCounters {
  xactCommit: number;
  xid: number;
  walSync: number;
}
/**
 * xact_commit of the database (every transaction, read-only ones included),
 * the cluster's transaction id (advances only for transactions that write)
 * and the cluster's WAL syncs (fsyncs: durable commits after group commit).
 */
export async function pgCounters(databaseUrl: string): Promise<PgCounters> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query('SELECT pg_stat_clear_snapshot()');
    const [a] = (
      await c.query(
        'SELECT xact_commit::bigint AS x FROM pg_stat_database WHERE datname = current_database()',
      )
    ).rows;
    const [b] = (await c.query('SELECT pg_current_xact_id()::text::bigint AS x')).rows;
    const [w] = (await c.query('SELECT wal_sync::bigint AS x FROM pg_stat_wal')).rows;
    return { xactCommit: Number(a.x), xid: Number(b.x), walSync: Number(w.x) };
  } finally {
    await c.end();
  }
}
export const diffCounters = (a: PgCounters, b: PgCounters): PgCounters => ({
  xactCommit: b.xactCommit - a.xactCommit,
  // the probe itself takes one xid
  xid: b.xid - a.xid - 1,
  walSync: b.walSync - a.walSync,
});

// ------------------------------------------------------------------ baselines

/** pgbench-style: single-row INSERTs, each its own durable commit, from `clients` connections. */
export async function pgCommitRate(
  databaseUrl: string,
  clients: number,
  ms: number,
): Promise<{ perSec: number; latency: Summary }> {
  const table = `bench_commit_${rid()}`;
  const admin = new Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, c int, v int)`);
  const conns = await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = new Client({ connectionString: databaseUrl });
      await c.connect();
      return c;
    }),
  );
  const latencies: number[] = [];
  let count = 0;
  const t0 = now();
  const end = t0 + ms;
  await Promise.all(
    conns.map(async (c, i) => {
      while (now() < end) {
        const s = now();
        await c.query(`INSERT INTO ${table} (c, v) VALUES ($1, $2)`, [i, count]);
        latencies.push(now() - s);
        count++;
      }
    }),
  );
  const elapsed = now() - t0;
  await Promise.all(conns.map((c) => c.end()));
  await admin.query(`DROP TABLE ${table}`);
  await admin.end();
  return { perSec: round(count / (elapsed / 1000)), latency: summarize(latencies) };
}

/** BullMQ: add n no-op jobs (addBulk, 500 a call) and process them (concurrency 50), first add to last processed. */
export async function bullmqNoopRate(n: number): Promise<{ perSec: number }> {
  const prefix = `wfsbench-${rid()}`;
  const connection = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue('noop', { connection, prefix });
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  const worker = new Worker(
    'noop',
    async () => {
      if (++done === n) finish();
    },
    { connection: new IORedis(REDIS_URL, { maxRetriesPerRequest: null }), prefix, concurrency: 50 },
  );
  await worker.waitUntilReady();
  const t0 = now();
  for (let i = 0; i < n; i += 500) {
    await q.addBulk(
      Array.from({ length: Math.min(500, n - i) }, (_, k) => ({
        name: 'noop',
        data: { i: i + k },
        opts: { removeOnComplete: true },
      })),
    );
  }
  await all;
  const elapsed = now() - t0;
  await worker.close();
  await q.obliterate({ force: true }).catch(() => undefined);
  await q.close();
  await delKeys(prefix);
  connection.disconnect();
  return { perSec: round(n / (elapsed / 1000)) };
}

export async function delKeys(prefix: string): Promise<void> {
  const r = new IORedis(REDIS_URL);
  const keys = await r.keys(`${prefix}:*`);
  for (let i = 0; i < keys.length; i += 1000) await r.del(...keys.slice(i, i + 1000));
  r.disconnect();
}

/**
 * RabbitMQ: persistent publishes into a durable queue, with confirms, one at a
 * time (wait for each confirm) or batched (wait after every `batch`).
 */
export async function amqpConfirmRate(n: number, batch: number): Promise<{ perSec: number }> {
  const connection = await amqp.connect(AMQP_URL);
  const ch = await connection.createConfirmChannel();
  const queue = `wfsbench-${rid()}.confirms`;
  await ch.assertQueue(queue, { durable: true });
  const body = Buffer.from(JSON.stringify({ x: 'y'.repeat(600) })); // about an event's size
  const t0 = now();
  for (let i = 0; i < n; i++) {
    if (!ch.sendToQueue(queue, body, { persistent: true }))
      await new Promise((r) => ch.once('drain', r));
    if ((i + 1) % batch === 0 || i === n - 1) await ch.waitForConfirms();
  }
  const elapsed = now() - t0;
  await ch.deleteQueue(queue);
  await connection.close();
  return { perSec: round(n / (elapsed / 1000)) };
}

/** The floor under one event's trip: a confirmed persistent publish at `rate`/s, published -> consumed, ms. */
export async function amqpTripLatency(rate: number, ms: number): Promise<Summary> {
  const connection = await amqp.connect(AMQP_URL);
  const pub = await connection.createConfirmChannel();
  const sub = await connection.createChannel();
  const queue = `wfsbench-${rid()}.trip`;
  await pub.assertQueue(queue, { durable: true });
  const lat: number[] = [];
  await sub.consume(queue, (m) => {
    if (!m) return;
    lat.push(now() - Number(m.content.toString()));
    sub.ack(m);
  });
  await openLoop(rate, ms, async () => {
    pub.sendToQueue(queue, Buffer.from(String(now())), { persistent: true });
    await pub.waitForConfirms();
    return true;
  });
  await sleep(200);
  await pub.deleteQueue(queue);
  await connection.close();
  return summarize(lat);
}

/** A plain node http server answering a small JSON body, in a process of its own (like the API). */
export async function bareHttpServer(): Promise<{ url: string; close(): Promise<void> }> {
  const code = `
    const http = require('node:http');
    const body = JSON.stringify({ id: 1, state: 'complete', items: [] });
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); });
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', () => reject(new Error('bare http server exited')));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      child.kill('SIGTERM');
    },
  };
}

/** Closed loop, `concurrency` requests in flight for `ms`: requests/s. */
export async function closedLoopRate(
  fn: () => Promise<unknown>,
  concurrency: number,
  ms: number,
): Promise<number> {
  let count = 0;
  const t0 = now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (now() < end) {
        await fn();
        count++;
      }
    }),
  );
  return round(count / ((now() - t0) / 1000));
}

/** CPU seconds (user + system) a process has used so far. */
export function procCpu(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds used so far by the machine's service processes, by kind, and the machine's busy/total time. */
interface CpuSample {
  byKind: Record<string, number>;
  busy: number;
  total: number;
}

const KINDS: Array<[string, RegExp]> = [
  ['postgres', /^postgres/],
  ['rabbitmq', /^beam\.smp|^erl_child_setup|^epmd/],
  ['redis', /^redis-server/],
];

function cpuSample(): CpuSample {
  const byKind: Record<string, number> = {};
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const kind = KINDS.find(([, re]) => re.test(comm))?.[0];
    if (!kind) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    byKind[kind] = (byKind[kind] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
  }
  const cpu = fs
    .readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]!
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const total = cpu.reduce((a, c) => a + c, 0) / 100;
  const idle = ((cpu[3] ?? 0) + (cpu[4] ?? 0)) / 100;
  return { byKind, busy: total - idle, total };
}

export interface CpuPerUnit {
  api: number;
  worker: number;
  postgres: number;
  rabbitmq: number;
  redis: number;
  /** This bench process: the load generator and the AMQP consumer. */
  bench: number;
  /** The whole machine's busy time. */
  machineBusy: number;
}

/**
 * Starts counting the CPU of the deployment's API and (first) worker, of every
 * Postgres, RabbitMQ and Redis process and of this bench process; the function
 * it returns gives each one's CPU per unit of work (`scale`: 1e3 for ms, 1e6
 * for us) and how busy the machine was. Backends that exit meanwhile are not
 * counted.
 */
export function cpuMeter(d: Deployment): (
  units: number,
  scale: number,
) => {
  per: CpuPerUnit;
  busyShare: number;
} {
  const apiPid = d.api!.pid;
  const workerPid = d.workers[0]!.pid;
  const t0 = {
    api: procCpu(apiPid),
    worker: procCpu(workerPid),
    bench: process.cpuUsage(),
    machine: cpuSample(),
  };
  return (units, scale) => {
    const bench = process.cpuUsage(t0.bench);
    const m = cpuSample();
    const kind = (k: string) => (m.byKind[k] ?? 0) - (t0.machine.byKind[k] ?? 0);
    const per = (seconds: number) => round((Math.max(0, seconds) * scale) / units, 2);
    return {
      per: {
        api: per(procCpu(apiPid) - t0.api),
        worker: per(procCpu(workerPid) - t0.worker),
        postgres: per(kind('postgres')),
        rabbitmq: per(kind('rabbitmq')),
        redis: per(kind('redis')),
        bench: per((bench.user + bench.system) / 1e6),
        machineBusy: per(m.busy - t0.machine.busy),
      },
      busyShare: round((m.busy - t0.machine.busy) / (m.total - t0.machine.total), 2),
    };
  };
}

/**
 * The limits a primitive baseline implies: per primitive, rate / uses per unit
 * (each baseline had the whole machine to itself); L, the least of them; and
 * the time-shared limit 1 / sum(uses / rate) (a unit needs all of them at once
 * on the same cores).
 */
export function primitiveLimits(primitives: Record<string, { rate: number; uses: number }>) {
  const each = Object.fromEntries(
    Object.entries(primitives).map(([k, p]) => [k, p.rate / p.uses]),
  ) as Record<string, number>;
  const [bound, L] = Object.entries(each).sort((x, y) => x[1] - y[1])[0] as [string, number];
  const shared = 1 / Object.values(primitives).reduce((sum, p) => sum + p.uses / p.rate, 0);
  return { each, bound, L, shared };
}

/** The table row of an event check (every bench checks what it measured). */
export function eventsRow(bench: string, check: EventCheck, baseline: string): Row {
  return {
    bench,
    figure: 'events: lost/dup/reordered/not complete',
    value: `${check.lost}/${check.duplicates}/${check.reordered}/${check.notComplete}`,
    baseline,
    ratio: '-',
    bar: 'all 0',
    pass: check.ok,
  };
}
