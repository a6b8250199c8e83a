import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';
import { Database } from '@wfs/persistence';
import { Received, received, sequenceProblems, until } from './amqp';
import { Deployment, startDeployment, TEST_APPLICATION_NAME } from './processes';

/**
 * The fault tests' load and their final accounting: runs created through the
 * API while things break, then proof that nothing was lost (every run
 * terminal, every event in the consumer queue, in order, no job instance run
 * twice at once).
 */

const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const FIXTURE_WORKFLOWS = path.join(__dirname, '..', 'fixtures', 'workflows');
export const SPANTOOL = path.join(__dirname, '..', 'fixtures', 'tools', 'spantool');

/** Env for a deployment with the t_fault workflow only, spantool, and a consumer queue bound to all run events. */
export function faultEnv(
  workflowsDir: string,
  queue: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  fs.copyFileSync(
    path.join(FIXTURE_WORKFLOWS, 't_fault.yaml'),
    path.join(workflowsDir, 't_fault.yaml'),
  );
  return {
    WFS_WORKFLOWS_DIR: workflowsDir,
    WFS_TOOL_SPANTOOL: SPANTOOL,
    WFS_SUBSCRIBER_QUEUES: `${queue}=run.#`,
    ...extra,
  };
}

export interface FaultContext {
  d: Deployment;
  /** The durable consumer queue, bound to every run event before the load. */
  queue: string;
  /** Where spantool records the spans of this test's job attempts. */
  spanLog: string;
  /** t_fault's `gate`: runs given it hold their job (in flight) until openGate(). */
  gate: string;
  openGate(): void;
}

/**
 * Runs a fault test against a deployment of its own (processes, database,
 * Redis prefix, queue and exchange names), printing the processes' last log
 * lines if it fails, and taking everything down afterwards.
 */
export async function withDeployment<T>(
  opts: { workers?: number; env?: Record<string, string> },
  fn: (ctx: FaultContext) => Promise<T>,
): Promise<T> {
  const workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-fault-workflows-'));
  const queue = `${uniqueName('fault-consumer')}.wfs-status`;
  let d: Deployment | null = null;
  try {
    d = await startDeployment({
      workers: opts.workers,
      env: faultEnv(workflowsDir, queue, opts.env),
    });
    const gate = path.join(d.dataRoot, 'gate');
    return await fn({
      d,
      queue,
      spanLog: path.join(d.dataRoot, 'spans.log'),
      gate,
      openGate: () => fs.writeFileSync(gate, ''),
    });
  } catch (e) {
    if (d) (e as Error).message += `\n\nlast log lines:\n${d.logTail(30)}`;
    throw e;
  } finally {
    // WFS_FAULT_LOGS=<dir> keeps the processes' logs of each test there.
    const keep = process.env.WFS_FAULT_LOGS;
    if (d && keep)
      fs.cpSync(path.join(d.dataRoot, 'logs'), path.join(keep, path.basename(d.dataRoot)), {
        recursive: true,
      });
    // Held jobs end (a failed test may leave its gate closed), then everything goes.
    if (d) fs.writeFileSync(path.join(d.dataRoot, 'gate'), '');
    await d?.stop();
    fs.rmSync(workflowsDir, { recursive: true, force: true });
  }
}

export const uniqueName = (what: string) =>
  `${what}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/**
 * Creates and submits one run through the API. With `patient`, a refused or
 * failed call is tried again (same Idempotency-Key, so a run whose answer
 * was lost is not made twice) until the API takes it: for loads that run
 * through a fault.
 */
async function createRun(
  d: Deployment,
  workflow: string,
  parameters: Record<string, unknown>,
  idempotencyKey: string,
  patient: boolean,
): Promise<number> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const res = await d
      .call('POST', `/api/v1/workflows/${workflow}/runs`, {
        body: { parameters, submit: true },
        role: 'da',
        headers: { 'idempotency-key': idempotencyKey },
      })
      .catch((e: Error) => ({ status: 0, text: e.message, body: null }));
    if (res.status === 201 || res.status === 200) return res.body.id;
    if (!patient || Date.now() > deadline)
      throw new Error(`creating run ${idempotencyKey}: ${res.status} ${res.text.slice(0, 500)}`);
    await sleep(250);
  }
}

/** Creates `count` runs, `parallel` at a time; their ids in creation order. */
export async function createRuns(
  d: Deployment,
  count: number,
  workflow: string,
  parameters: Record<string, unknown>,
  opts: { parallel?: number; patient?: boolean } = {},
): Promise<number[]> {
  const ids: number[] = new Array(count);
  const keyPrefix = uniqueName('load');
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.parallel ?? 8 }, async () => {
      while (next < count) {
        const i = next++;
        ids[i] = await createRun(d, workflow, parameters, `${keyPrefix}-${i}`, !!opts.patient);
      }
    }),
  );
  return ids;
}

/**
 * A burst that lasts until stopped: creates runs `parallel` at a time,
 * patiently (through restarts and outages), without pause. stop() lets the
 * calls under way finish and resolves to the ids of every run created.
 */
export function startBurst(
  d: Deployment,
  workflow: string,
  parameters: Record<string, unknown>,
  opts: { parallel?: number } = {},
): { created(): number; stop(): Promise<number[]> } {
  const ids: number[] = [];
  const keyPrefix = uniqueName('burst');
  let next = 0;
  let stopped = false;
  const done = Promise.all(
    Array.from({ length: opts.parallel ?? 4 }, async () => {
      while (!stopped)
        ids.push(await createRun(d, workflow, parameters, `${keyPrefix}-${next++}`, true));
    }),
  );
  return {
    created: () => ids.length,
    stop: async () => {
      stopped = true;
      await done;
      return ids;
    },
  };
}

export async function stateCounts(db: Database): Promise<Record<string, number>> {
  const rows = await db.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM runs GROUP BY state',
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** Runs not yet complete, failed or cancelled. */
export async function inFlight(db: Database): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM runs WHERE state NOT IN ('complete', 'failed', 'cancelled')`,
  );
  return row?.n ?? 0;
}

/** Waits until every run is terminal; returns the count per state. */
export async function allTerminal(
  db: Database,
  timeoutMs: number,
): Promise<Record<string, number>> {
  await until('every run to end', async () => (await inFlight(db)) === 0, timeoutMs);
  return stateCounts(db);
}

/** Jobs in a state right now. */
export async function jobsIn(db: Database, state: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM jobs WHERE state = $1',
    [state],
  );
  return row?.n ?? 0;
}

/**
 * The events of each job instance, in sequence order, must alternate: a
 * start, then its end (completed, retrying or failed) before the next start,
 * with growing attempt numbers, and at most one job-completed.
 */
export function jobEventProblems(messages: Received[]): string[] {
  const seen = new Set<string>();
  const byInstance = new Map<string, any[]>();
  for (const m of messages) {
    if (seen.has(m.body.messageId) || !m.body.job) continue;
    seen.add(m.body.messageId);
    const k = `${m.body.runId} ${m.body.job.name}[${m.body.job.index}]`;
    byInstance.set(k, [...(byInstance.get(k) ?? []), m.body]);
  }
  const problems: string[] = [];
  for (const [k, events] of byInstance) {
    events.sort((a, b) => a.sequence - b.sequence);
    let running: number | null = null;
    let last = 0;
    let completed = 0;
    for (const e of events) {
      const attempt = e.job.attempts;
      if (e.type === 'job-started') {
        if (running !== null)
          problems.push(`${k}: attempt ${attempt} started while attempt ${running} ran`);
        if (attempt <= last)
          problems.push(`${k}: attempt ${attempt} started after attempt ${last}`);
        running = attempt;
        last = attempt;
      } else if (['job-completed', 'job-retrying', 'job-failed'].includes(e.type)) {
        if (e.type === 'job-completed') completed++;
        if (running !== attempt)
          problems.push(`${k}: ${e.type} for attempt ${attempt} while ${running ?? 'none'} ran`);
        running = null;
      }
    }
    if (completed > 1) problems.push(`${k}: completed ${completed} times`);
  }
  return problems;
}

/**
 * What spantool recorded: no attempt began while an earlier attempt of the
 * same instance still ran (it checks at start), and no two recorded spans of
 * an instance overlap. Returns the problems, how many attempts it saw and
 * which of them never ended (killed), as "<run> <job>[<index>] attempt <n>".
 */
export function spanProblems(logFile: string): {
  problems: string[];
  attempts: number;
  instances: number;
  unfinished: string[];
} {
  const lines = fs.existsSync(logFile)
    ? fs.readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean)
    : [];
  const problems = lines.filter((l) => l.startsWith('overlap ')).map((l) => `spantool: ${l}`);
  const spans = new Map<string, Map<string, { start?: number; end?: number }>>();
  for (const l of lines) {
    const [what, run, job, index, attempt, pid, ms] = l.split(' ');
    if (what !== 'start' && what !== 'end') continue;
    const k = `${run} ${job}[${index}]`;
    const byPid = spans.get(k) ?? new Map();
    spans.set(k, byPid);
    const span = byPid.get(`${attempt}/${pid}`) ?? {};
    span[what] = Number(ms);
    byPid.set(`${attempt}/${pid}`, span);
  }
  let attempts = 0;
  const unfinished: string[] = [];
  for (const [k, byPid] of spans) {
    const list = [...byPid.entries()]
      .map(([a, s]) => ({ a, start: s.start ?? 0, end: s.end ?? Infinity }))
      .sort((x, y) => x.start - y.start);
    attempts += list.length;
    for (const s of list)
      if (s.end === Infinity) unfinished.push(`${k} attempt ${s.a.split('/')[0]}`);
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const cur = list[i]!;
      // An attempt with no end was killed: spantool's own check above covers it.
      if (prev.end !== Infinity && cur.start < prev.end)
        problems.push(
          `${k}: attempt ${cur.a} began at ${cur.start}, before attempt ${prev.a} ended at ${prev.end}`,
        );
    }
  }
  return { problems, attempts, instances: spans.size, unfinished };
}

export interface Delivery {
  events: number;
  received: number;
  distinct: number;
  missing: string[];
  sequenceProblems: string[];
  jobProblems: string[];
  messages: Received[];
}

/**
 * Like collectQueue, but (re)connects whenever the broker is away: another
 * test may stop or restart it meanwhile. Acked on receipt; a message whose
 * ack was lost comes again later, after its first copy.
 */
function collectPatiently(
  url: string,
  queue: string,
): { messages: Received[]; close(): Promise<void> } {
  const messages: Received[] = [];
  let closed = false;
  let connection: amqp.ChannelModel | null = null;
  const connect = async (): Promise<void> => {
    while (!closed) {
      try {
        const c = await amqp.connect(url);
        c.on('error', () => undefined);
        const ch = await c.createChannel();
        ch.on('error', () => undefined);
        await ch.consume(queue, (msg) => {
          if (!msg) return;
          messages.push(received(msg));
          ch.ack(msg);
        });
        connection = c;
        c.on('close', () => {
          connection = null;
          if (!closed) void connect();
        });
        if (closed) await c.close().catch(() => undefined);
        return;
      } catch {
        await sleep(500);
      }
    }
  };
  void connect();
  return {
    messages,
    close: async () => {
      closed = true;
      await connection?.close().catch(() => undefined);
    },
  };
}

/**
 * Reads the consumer queue until it holds every event of the `events` table
 * (deduped on messageId) and none is left unpublished; then compares.
 */
export async function drainAndCompare(
  d: Deployment,
  queue: string,
  timeoutMs = 90_000,
): Promise<Delivery> {
  const consumer = collectPatiently(d.config.amqpUrl, queue);
  try {
    const ids = () => new Set(consumer.messages.map((m) => m.body.messageId));
    let expected: string[] = [];
    await until(
      'every event in the consumer queue',
      async () => {
        const [{ n }] = (await d.db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM events WHERE published_at IS NULL',
        )) as [{ n: number }];
        if (n > 0) return false;
        expected = (
          await d.db.query<{ id: string }>(`SELECT body->>'messageId' AS id FROM events`)
        ).map((r) => r.id);
        return ids().size >= expected.length;
      },
      timeoutMs,
    ).catch(() => undefined);
    const got = ids();
    return {
      events: expected.length,
      received: consumer.messages.length,
      distinct: got.size,
      missing: expected.filter((id) => !got.has(id)),
      sequenceProblems: sequenceProblems(consumer.messages),
      jobProblems: jobEventProblems(consumer.messages),
      messages: [...consumer.messages],
    };
  } finally {
    await consumer.close();
  }
}

/** Fields of a Delivery worth printing. */
export const summary = (x: Delivery) => ({
  events: x.events,
  received: x.received,
  distinct: x.distinct,
  missing: x.missing.length,
});

// ------------------------------------------------------------ the services

/** rabbitmqctl <args> (the broker node of this machine). */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await exec('rabbitmqctl', args, { timeout: 120_000 });
  return stdout;
}

/** Starts the broker application if it is stopped, and waits until it serves. */
export async function ensureBrokerUp(amqpUrl: string): Promise<void> {
  await rabbitmqctl('start_app').catch(() => undefined);
  await rabbitmqctl('await_startup');
  await until(
    'the broker to accept connections',
    async () => {
      const c = await amqp.connect(amqpUrl).catch(() => null);
      await c?.close().catch(() => undefined);
      return c !== null;
    },
    60_000,
  );
}

/** Ends every server connection to the deployment's database except the test's own. Returns how many. */
export async function terminateServiceConnections(d: Deployment): Promise<number> {
  const name = decodeURIComponent(new URL(d.config.databaseUrl).pathname.slice(1));
  const rows = await d.db.query<{ ok: boolean }>(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
     WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name <> $2`,
    [name, TEST_APPLICATION_NAME],
  );
  return rows.filter((r) => r.ok).length;
}

/** Keys of the deployment's Redis prefix. */
export function redisPattern(d: Deployment): string {
  return `${d.config.queuePrefix}:*`;
}

/**
 * The final accounting of a fault test: every run ended in `complete` (the
 * ones created, no more), every event of the `events` table reached the
 * consumer queue, sequences gapless and in order per run, and no job
 * instance ran twice at the same time (job events and spantool's spans).
 */
export async function expectNothingLost(ctx: FaultContext, runIds: number[], timeoutMs = 120_000) {
  const t0 = Date.now();
  const counts = await allTerminal(ctx.d.db, timeoutMs);
  const settledMs = Date.now() - t0;
  expect(new Set(runIds).size).toBe(runIds.length);
  expect(counts).toEqual({ complete: runIds.length });
  const delivery = await drainAndCompare(ctx.d, ctx.queue);
  const spans = spanProblems(ctx.spanLog);
  expect(summary(delivery)).toEqual({
    events: delivery.events,
    received: delivery.received,
    distinct: delivery.events,
    missing: 0,
  });
  expect(delivery.sequenceProblems).toEqual([]);
  expect(delivery.jobProblems).toEqual([]);
  expect(spans.problems).toEqual([]);
  const completes = delivery.messages.filter((m) => m.body.type === 'complete');
  expect(new Set(completes.map((m) => m.body.runId)).size).toBe(runIds.length);
  return { counts, delivery, spans, settledMs };
}
