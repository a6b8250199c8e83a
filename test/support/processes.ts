import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as amqp from 'amqplib';
import { loadConfig, WfsConfig } from '@wfs/config';
import { Database, ensureDatabase } from '@wfs/persistence';
import { until } from './amqp';
import { isolatedEnv, removeTraces, TOKENS } from './stack';

const REPO = path.resolve(__dirname, '..', '..');
const ENTRY = {
  api: path.join(REPO, 'dist/apps/api/src/main.js'),
  worker: path.join(REPO, 'dist/apps/worker/src/main.js'),
};

/** The test's own Postgres connections say so, so a fault aimed at the service can spare them. */
export const TEST_APPLICATION_NAME = 'wfs-test-harness';

export interface ServiceProcess {
  role: 'api' | 'worker';
  child: ChildProcess;
  pid: number;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** How one worker is started, when not like the others. */
export interface WorkerOptions {
  /** Variables over the deployment's (given the deployment's environment). */
  env?: Record<string, string> | ((deployment: Record<string, string>) => Record<string, string>);
  /** A command that runs it, e.g. `['ip', 'netns', 'exec', ns]` (it must exec node in its own pid). */
  prefix?: string[];
  /** Named in its log file's name. */
  label?: string;
}

export interface Deployment {
  config: WfsConfig;
  env: Record<string, string>;
  url: string;
  /** The test's pool on the deployment's database (application_name TEST_APPLICATION_NAME). */
  db: Database;
  dataRoot: string;
  api: ServiceProcess | null;
  /** Worker processes started and not yet stopped. */
  workers: ServiceProcess[];
  startApi(): Promise<ServiceProcess>;
  startWorker(o?: WorkerOptions): Promise<ServiceProcess>;
  /** Signals a process (SIGTERM: graceful; SIGKILL: kill -9) and waits for it to exit. */
  stopProcess(p: ServiceProcess, signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  call(
    method: string,
    path: string,
    opts?: { body?: unknown; role?: keyof typeof TOKENS; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; text: string }>;
  /** The last lines the processes wrote (for a failing test's message). */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A wfs made of real processes, the compiled API and workers (`npm run
 * build` first), on the machine's Postgres, Redis and RabbitMQ, isolated like
 * startStack (own database, Redis/queue prefix, exchanges, data root): for
 * tests that kill, restart or starve them. The API keeps its port across
 * restarts. Each process's output goes to a log file under the data root.
 */
export async function startDeployment(
  opts: { workers?: number | WorkerOptions[]; env?: Record<string, string> } = {},
): Promise<Deployment> {
  for (const entry of Object.values(ENTRY)) {
    if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  }
  const id = `f${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), `wfs-${id}-`));
  const logDir = path.join(dataRoot, 'logs');
  fs.mkdirSync(logDir);
  const port = await freePort();
  const env = isolatedEnv(id, dataRoot, { WFS_LOG_LEVEL: 'info', PORT: String(port), ...opts.env });
  const config = loadConfig(env);
  await ensureDatabase(config.databaseUrl);
  const db = await new Database(
    `${config.databaseUrl}?application_name=${TEST_APPLICATION_NAME}`,
    4,
  ).open();
  await db.migrate();
  const url = `http://127.0.0.1:${port}`;
  const logs: string[] = [];
  let serial = 0;

  const spawnService = (role: ServiceProcess['role'], o: WorkerOptions = {}): ServiceProcess => {
    const logFile = path.join(logDir, `${role}-${++serial}${o.label ? `-${o.label}` : ''}.log`);
    logs.push(logFile);
    const fd = fs.openSync(logFile, 'a');
    const [command = process.execPath, ...args] = [
      ...(o.prefix ?? []),
      process.execPath,
      ENTRY[role],
    ];
    const own = typeof o.env === 'function' ? o.env(env) : (o.env ?? {});
    const child = spawn(command, args, {
      cwd: REPO,
      env: { ...process.env, ...env, ...own },
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve) => {
        child.on('exit', (code, signal) => resolve({ code, signal }));
        child.on('error', () => resolve({ code: null, signal: null }));
      },
    );
    return { role, child, pid: child.pid as number, exited };
  };

  const call: Deployment['call'] = async (method, p, o = {}) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${TOKENS[o.role ?? 'admin']}`,
      ...(o.headers ?? {}),
    };
    let body: string | undefined;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(url + p, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed, text };
  };

  const logTail: Deployment['logTail'] = (lines = 40) =>
    logs
      .map((f) => {
        const text = fs.existsSync(f)
          ? fs.readFileSync(f, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
          : '';
        return `--- ${path.basename(f)}\n${text}`;
      })
      .join('\n');

  /** Waits for ready(), failing at once (with the log) if the process dies first. */
  const started = async (
    p: ServiceProcess,
    what: string,
    ready: () => Promise<boolean>,
  ): Promise<ServiceProcess> => {
    let dead = false;
    void p.exited.then(() => (dead = true));
    await until(
      what,
      async () => {
        if (dead) throw new Error(`${p.role} ${p.pid} exited while starting:\n${logTail()}`);
        return ready().catch(() => false);
      },
      60_000,
    );
    return p;
  };

  const d: Deployment = {
    config,
    env,
    url,
    db,
    dataRoot,
    api: null,
    workers: [],
    async startApi() {
      const p = spawnService('api');
      d.api = p;
      // Any answer means it listens (health is 503 while a dependency is down).
      return started(p, 'the API to listen', async () => (await fetch(`${url}/health`)).status > 0);
    },
    async startWorker(o) {
      const p = spawnService('worker', o);
      d.workers.push(p);
      // Its heartbeat row is written at bootstrap, before it consumes.
      return started(
        p,
        `worker ${p.pid} to start`,
        async () => (await db.query('SELECT 1 FROM workers WHERE pid = $1', [p.pid])).length > 0,
      );
    },
    async stopProcess(p, signal = 'SIGTERM', timeoutMs = 60_000) {
      p.child.kill(signal);
      const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
      await p.exited;
      clearTimeout(timer);
      if (d.api === p) d.api = null;
      d.workers = d.workers.filter((w) => w !== p);
    },
    call,
    logTail,
    async stop() {
      for (const p of [...d.workers, ...(d.api ? [d.api] : [])])
        await d.stopProcess(p, 'SIGTERM', 15_000);
      // Job processes the workers started (detached groups) end with the test too.
      const running = await db
        .query<{ pid: number }>(`SELECT pid FROM jobs WHERE pid IS NOT NULL AND state = 'running'`)
        .catch(() => []);
      for (const { pid } of running) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await db.close();
      await removeTraces(config, dataRoot);
    },
  };

  try {
    await d.startApi();
    const workers = opts.workers ?? 1;
    if (typeof workers === 'number') for (let i = 0; i < workers; i++) await d.startWorker();
    else for (const o of workers) await d.startWorker(o);
    // The consumer queues are declared by the workers once connected to the broker.
    for (const { queue } of config.subscriberQueues) {
      await until(`queue ${queue} declared`, () => queueExists(config.amqpUrl, queue), 60_000);
    }
  } catch (e) {
    await d.stop().catch(() => undefined);
    throw e;
  }
  return d;
}

async function queueExists(url: string, queue: string): Promise<boolean> {
  const connection = await amqp.connect(url).catch(() => null);
  if (!connection) return false;
  try {
    const ch = await connection.createChannel();
    ch.on('error', () => undefined);
    return await ch.checkQueue(queue).then(
      () => true,
      () => false,
    );
  } finally {
    await connection.close().catch(() => undefined);
  }
}
