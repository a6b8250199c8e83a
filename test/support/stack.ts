import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { INestApplication, INestApplicationContext } from '@nestjs/common';
import * as amqp from 'amqplib';
import IORedis from 'ioredis';
import { loadConfig, WfsConfig } from '@wfs/config';
import { Database, dropDatabase, ensureDatabase } from '@wfs/persistence';
import { createApi } from '../../apps/api/src/bootstrap';
import { createWorker } from '../../apps/worker/src/bootstrap';
import { MessagingService } from '../../apps/worker/src/messaging.service';
import { OpenApiCheck } from './openapi';

export const TOKENS = {
  admin: 'test-admin-token',
  da: 'test-da-token',
  viewer: 'test-viewer-token',
  service: 'test-service-token',
  ops: 'test-ops-token',
};

export interface Stack {
  config: WfsConfig;
  url: string;
  db: Database;
  dataRoot: string;
  api: INestApplication;
  workers: INestApplicationContext[];
  /**
   * fetch against the API with a role's token. Every answer is checked
   * against the OpenAPI document the API serves: one that does not match the
   * schema declared for its status fails the call, naming the operation, the
   * status and what differs.
   */
  call(
    method: string,
    path: string,
    opts?: {
      body?: unknown;
      role?: keyof typeof TOKENS | null;
      headers?: Record<string, string>;
      raw?: Buffer | string;
    },
  ): Promise<{ status: number; body: any; text: string; headers: Headers }>;
  waitForRun(runId: number, states?: string[], timeoutMs?: number): Promise<any>;
  /** Starts a worker; `env` overrides the stack's environment for it (its resources, its host name). */
  startWorker(env?: Record<string, string>): Promise<INestApplicationContext>;
  /** Closes one worker (graceful) and forgets it. */
  stopWorker(w: INestApplicationContext): Promise<void>;
  stop(): Promise<void>;
}

/** Removes the queues and exchanges this stack declared (each test uses its own names). */
export async function deleteBrokerObjects(config: WfsConfig): Promise<void> {
  const connection = await amqp.connect(config.amqpUrl);
  try {
    const ch = await connection.createChannel();
    ch.on('error', () => undefined);
    for (const q of [
      `${config.queuePrefix}.archive-ingestion`,
      `${config.queuePrefix}.dead-letter`,
      ...config.subscriberQueues.map((s) => s.queue),
    ]) {
      await ch.deleteQueue(q);
    }
    await ch.deleteExchange(config.eventsExchange);
    await ch.deleteExchange(config.archiveExchange);
    await ch.close();
  } finally {
    await connection.close();
  }
}

/** Leaves nothing of an isolated wfs behind: its Redis keys, broker objects, database and data root. */
export async function removeTraces(config: WfsConfig, dataRoot: string): Promise<void> {
  const redis = new IORedis(config.redisUrl);
  const keys = await redis.keys(`${config.queuePrefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await deleteBrokerObjects(config).catch(() => undefined);
  await dropDatabase(config.databaseUrl).catch(() => undefined);
  fs.rmSync(dataRoot, { recursive: true, force: true });
}

/**
 * The environment of one isolated wfs: its own database, Redis prefix,
 * exchanges and data root on the machine's services; `extra` wins.
 */
export function isolatedEnv(
  id: string,
  dataRoot: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const base = process.env.WFS_TEST_DATABASE_BASE ?? 'postgres://postgres@127.0.0.1:5432';
  return {
    DATABASE_URL: `${base}/wfs_${id}`,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    AMQP_URL: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    WFS_DATA_ROOT: dataRoot,
    WFS_QUEUE_PREFIX: `wfs-${id}`,
    WFS_EVENTS_EXCHANGE: `wfs-${id}.events`,
    WFS_ARCHIVE_EXCHANGE: `wfs-${id}.archive`,
    WFS_API_TOKENS: Object.entries(TOKENS)
      .map(([role, token]) => `${role}:${token}`)
      .join(','),
    // The simulators stand in for CASA and use next to nothing: a worker offers room for the
    // definitions' real requests (std_calibration's casa asks for 4 cpus, 16G) on any test host.
    // Tests of placement set their own.
    WFS_WORKER_CPUS: '64',
    WFS_WORKER_MEMORY: '256G',
    ...extra,
  };
}

/**
 * A whole wfs on the machine's real Postgres, Redis and RabbitMQ, isolated by
 * its own database, Redis/queue prefix, exchanges and data root, so test
 * files can run side by side.
 */
export async function startStack(
  opts: { workers?: number; env?: Record<string, string> } = {},
): Promise<Stack> {
  const id = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), `wfs-${id}-`));
  const env = isolatedEnv(id, dataRoot, { WFS_LOG_LEVEL: 'warn', PORT: '0', ...opts.env });
  const config = loadConfig(env);
  await ensureDatabase(config.databaseUrl);
  const db = await new Database(config.databaseUrl, 4).open();
  await db.migrate();
  const api = await createApi(config);
  await api.listen(0, '127.0.0.1');
  const address = api.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${address.port}`;
  const openapi = await OpenApiCheck.load(url);
  const workers: INestApplicationContext[] = [];
  const startWorker = async (extra?: Record<string, string>) => {
    const w = await createWorker(extra ? loadConfig({ ...env, ...extra }) : config);
    workers.push(w);
    await w.get(MessagingService).ready();
    return w;
  };
  for (let i = 0; i < (opts.workers ?? 1); i++) await startWorker();

  const call: Stack['call'] = async (method, p, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const role = o.role === undefined ? 'admin' : o.role;
    if (role) headers.authorization = `Bearer ${TOKENS[role]}`;
    let body: string | Buffer | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + p, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    const problem = openapi.check(method, p, {
      status: res.status,
      contentType: res.headers.get('content-type'),
      text,
      body: parsed,
    });
    if (problem) throw new Error(`The answer is not as the OpenAPI document declares: ${problem}`);
    return { status: res.status, body: parsed, text, headers: res.headers };
  };

  const waitForRun: Stack['waitForRun'] = async (
    runId,
    states = ['complete', 'failed', 'cancelled'],
    timeoutMs = 60_000,
  ) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await call('GET', `/api/v1/runs/${runId}`, { role: 'viewer' });
      if (states.includes(r.body?.state)) return r.body;
      if (Date.now() > deadline)
        throw new Error(
          `run ${runId} still ${r.body?.state} after ${timeoutMs} ms: ${r.text.slice(0, 2000)}`,
        );
      await new Promise((res) => setTimeout(res, 100));
    }
  };

  const stopWorker = async (w: INestApplicationContext) => {
    const i = workers.indexOf(w);
    if (i >= 0) workers.splice(i, 1);
    await w.close();
  };

  const stop = async () => {
    for (const w of workers) await w.close();
    await api.close();
    await db.close();
    await removeTraces(config, dataRoot);
  };

  return {
    config,
    url,
    db,
    dataRoot,
    api,
    workers,
    call,
    waitForRun,
    startWorker,
    stopWorker,
    stop,
  };
}

/** Moves a run's finish back by `days` (retention tests: the sweep judges by finished_at). */
export const finishedDaysAgo = (stack: Stack, runId: number, days: number) =>
  stack.db.query(
    `UPDATE runs SET finished_at = now() - make_interval(days => $2::int) WHERE id = $1`,
    [runId, days],
  );
