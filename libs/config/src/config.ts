import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type Role = 'viewer' | 'da' | 'service' | 'ops' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'da', 'service', 'ops', 'admin'];

/** The whole configuration, validated once at boot (see loadConfig). */
export interface WfsConfig {
  databaseUrl: string;
  redisUrl: string;
  amqpUrl: string;
  port: number;
  processingRoot: string;
  qaRoot: string;
  archiveRoot: string;
  mailDir: string;
  resultsRoots: string[];
  apiTokens: Array<{ role: Role; token: string }>;
  eventsExchange: string;
  archiveExchange: string;
  queuePrefix: string;
  smtpUrl: string | null;
  /** Sender of run notices (WFS_MAIL_FROM). */
  mailFrom: string;
  /** Notification role (a workflow's `notify` entries) -> mail addresses (WFS_MAIL_ROLES). */
  mailRoles: Record<string, string[]>;
  /** Finished runs in the processing area are deleted this many days after they finished. */
  processingRetentionDays: number;
  /** The image cache (vlass_image_caching): WFS_CACHE_ROOT, default <data root>/cache. */
  cacheRoot: string;
  /** Cached images are deleted this many days after they were cached (WFS_CACHE_RETENTION_DAYS). */
  cacheRetentionDays: number;
  /**
   * A finished run whose directory is gone (expired or removed) loses its per-instance rows
   * (jobs, published job-started/job-completed/group-progress events) this many days after it
   * finished (WFS_JOB_ROWS_RETENTION_DAYS); null (unset, the default): kept for ever.
   */
  jobRowsRetentionDays: number | null;
  /** How often a worker looks for expired run directories. */
  sweepIntervalSeconds: number;
  maxUploadBytes: number;
  maxJobsPerRun: number;
  maxJobTimeoutSeconds: number;
  /** Jobs a worker runs at once at most (an upper bound beside its resources); with a batch executor, jobs in flight through it. */
  workerConcurrency: number;
  /** Who runs a worker's jobs (WFS_EXECUTOR): the worker itself, or the site's Slurm or HTCondor. */
  executor: ExecutorConfig;
  /** What this worker offers the scheduler: one partitionable slot (WFS_WORKER_CPUS, _MEMORY, _GPUS, _LABELS). */
  workerResources: { cpus: number; memoryMb: number; gpus: number; labels: string[] };
  dbPoolSize: number;
  workflowsDir: string;
  /** Tool name (lower case) -> executable path, from WFS_TOOL_<NAME> and the tools file. */
  tools: Record<string, string>;
  toolsFile: string | null;
  hostname: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** One JSON object a line, or lines for a person (WFS_LOG_FORMAT; default: pretty on a terminal only). */
  logFormat: 'json' | 'pretty';
  /** Durable consumer queues declared at start-up with their binding keys (WFS_SUBSCRIBER_QUEUES). */
  subscriberQueues: Array<{ queue: string; bindings: string[] }>;
  /** Telescope -> workflow started by an ingestion-complete message (WFS_AUTO_WORKFLOWS). */
  autoWorkflows: Record<string, string>;
}

export type ExecutorConfig =
  | { kind: 'local' }
  | {
      kind: 'slurm';
      /** Directory of sbatch, squeue, scontrol, sacct, scancel (WFS_SLURM_BIN); null: on PATH. */
      bin: string | null;
      partition: string | null;
      account: string | null;
      /** Extra sbatch options, as words (WFS_SLURM_EXTRA), never through a shell. */
      extra: string[];
      /** Slurm's own variables the tools are run with (SLURM_CONF, when set). */
      toolEnv: Record<string, string>;
    }
  | {
      kind: 'htcondor';
      /** Directory of condor_submit, condor_rm (WFS_CONDOR_BIN); null: on PATH. */
      bin: string | null;
      /** Submit-description lines `key = value` (WFS_CONDOR_SUBMIT_EXTRA), validated by the executor at boot. */
      submitExtra: string;
      /** HTCondor's own variables the tools are run with (CONDOR_CONFIG, when set). */
      toolEnv: Record<string, string>;
    };

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`Configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

/** The repository root (where package.json is), from compiled or source location. */
export const PACKAGE_ROOT = (() => {
  let dir = __dirname;
  while (dir !== path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
})();

type Env = Record<string, string | undefined>;

function url(env: Env, name: string, fallback: string, protocols: string[]): string {
  const value = env[name] || fallback;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(name, `is not a URL: "${value}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, not ${parsed.protocol}`);
  }
  return value;
}

function int(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}, not "${raw}"`);
  }
  return value;
}

/** `16G`, `512M`, `2T`; a bare number is MiB (HTCondor's request_memory). */
function memoryMb(env: Env, variable: string, fallbackMb: number): number {
  const raw = env[variable];
  if (raw === undefined || raw === '') return fallbackMb;
  const m = /^([0-9]{1,12})([KMGT])?$/i.exec(raw.trim());
  const factor = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 }[(m?.[2] ?? 'M').toUpperCase()];
  const mb = m && factor ? Math.floor(Number(m[1]) * factor) : NaN;
  if (!Number.isSafeInteger(mb) || mb < 1)
    throw new ConfigError(variable, `must be a size like 16G, 512M or 2T, not "${raw}"`);
  return mb;
}

function labels(env: Env, variable: string): string[] {
  const words = (env[variable] ?? '')
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean);
  for (const w of words)
    if (!/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(w))
      throw new ConfigError(
        variable,
        `must be comma-separated words of a-z, 0-9, "_", "." or "-" (e.g. casa,lustre), not "${w}"`,
      );
  return [...new Set(words)];
}

function name(env: Env, variable: string, fallback: string): string {
  const value = env[variable] || fallback;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(value)) {
    throw new ConfigError(variable, `must be letters, digits, ".", "_" or "-", not "${value}"`);
  }
  return value;
}

/** sbatch options wfs sets itself, or that would take the job out of its hands. */
const SLURM_OWN_OPTIONS =
  /^(--wrap|--output|-o|--error|-e|--chdir|-D|--export|--job-name|-J|--comment|--open-mode|--parsable|--array|-a|--wait|-W|--requeue|--no-requeue)(=|$)/;

function executor(env: Env): ExecutorConfig {
  const kind = env.WFS_EXECUTOR || 'local';
  const bin = (variable: string) => {
    const dir = env[variable];
    if (!dir) return null;
    if (!path.isAbsolute(dir) || !fs.existsSync(dir))
      throw new ConfigError(variable, `must be an existing absolute directory, not "${dir}"`);
    return dir;
  };
  const own = (...names: string[]) =>
    Object.fromEntries(names.flatMap((n) => (env[n] ? [[n, env[n] as string]] : [])));
  const word = (variable: string) => {
    const v = env[variable]?.trim();
    if (!v) return null;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(v))
      throw new ConfigError(
        variable,
        `must be one word of letters, digits, ".", "_" or "-", not "${v}"`,
      );
    return v;
  };
  switch (kind) {
    case 'local':
      return { kind };
    case 'slurm': {
      const extra = (env.WFS_SLURM_EXTRA ?? '').split(/\s+/).filter(Boolean);
      for (const w of extra) {
        if (SLURM_OWN_OPTIONS.test(w))
          throw new ConfigError(
            'WFS_SLURM_EXTRA',
            `may not set ${w.split('=')[0]}: wfs sets it itself`,
          );
        if ([...w].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
          throw new ConfigError('WFS_SLURM_EXTRA', 'may not hold control characters');
      }
      return {
        kind,
        bin: bin('WFS_SLURM_BIN'),
        partition: word('WFS_SLURM_PARTITION'),
        account: word('WFS_SLURM_ACCOUNT'),
        extra,
        toolEnv: own('SLURM_CONF'),
      };
    }
    case 'htcondor':
      return {
        kind,
        bin: bin('WFS_CONDOR_BIN'),
        submitExtra: env.WFS_CONDOR_SUBMIT_EXTRA ?? '',
        toolEnv: own('CONDOR_CONFIG'),
      };
    default:
      throw new ConfigError('WFS_EXECUTOR', `must be local, slurm or htcondor, not "${kind}"`);
  }
}

function tokens(env: Env): WfsConfig['apiTokens'] {
  const raw = env.WFS_API_TOKENS ?? '';
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair, i) => {
      const sep = pair.indexOf(':');
      const role = pair.slice(0, sep) as Role;
      const token = pair.slice(sep + 1);
      if (sep < 1 || !ROLES.includes(role) || token.length < 8) {
        // Never echo the token itself.
        throw new ConfigError(
          'WFS_API_TOKENS',
          `entry ${i + 1} must be role:token with a role of ${ROLES.join('/')} and a token of 8+ characters`,
        );
      }
      return { role, token };
    });
}

function toolsFromEnv(env: Env): Record<string, string> {
  const tools: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    const m = /^WFS_TOOL_([A-Z0-9_]+)$/.exec(key);
    if (m && value) {
      if (!path.isAbsolute(value))
        throw new ConfigError(key, `must be an absolute path, not "${value}"`);
      tools[(m[1] as string).toLowerCase()] = value;
    }
  }
  return tools;
}

function subscriberQueues(env: Env): WfsConfig['subscriberQueues'] {
  return (env.WFS_SUBSCRIBER_QUEUES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const [queue, keys] = entry.split('=');
      const bindings = (keys ?? '')
        .split('|')
        .map((k) => k.trim())
        .filter(Boolean);
      if (
        !queue ||
        !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,200}$/.test(queue.trim()) ||
        bindings.length === 0 ||
        bindings.some((b) => !/^([A-Za-z0-9_-]+|\*|#)(\.([A-Za-z0-9_-]+|\*|#))*$/.test(b))
      ) {
        throw new ConfigError(
          'WFS_SUBSCRIBER_QUEUES',
          `entry "${entry}" must be queue=bindingKey[|bindingKey...] (topic syntax)`,
        );
      }
      return { queue: queue.trim(), bindings };
    });
}

function autoWorkflows(env: Env): Record<string, string> {
  const raw = env.WFS_AUTO_WORKFLOWS ?? 'VLA=std_calibration,EVLA=std_calibration';
  const map: Record<string, string> = {};
  for (const entry of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [telescope, workflow] = entry.split('=');
    if (!telescope || !workflow || !/^[a-z][a-z0-9_]*$/.test(workflow)) {
      throw new ConfigError(
        'WFS_AUTO_WORKFLOWS',
        `entry "${entry}" must be TELESCOPE=workflow_name`,
      );
    }
    map[telescope.trim().toUpperCase()] = workflow;
  }
  return map;
}

const ADDRESS = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+$/;

function mailAddress(env: Env, variable: string, fallback: string): string {
  const value = (env[variable] || fallback).trim();
  if (!ADDRESS.test(value))
    throw new ConfigError(variable, `must be a mail address like wfs@example.org, not "${value}"`);
  return value;
}

/** `role=addr[,addr...];role=...`, e.g. `da=da-team@example.org;srdp_ops=srdp-ops@example.org`. */
function mailRoles(env: Env): Record<string, string[]> {
  const raw =
    env.WFS_MAIL_ROLES || 'da=data-analysts@localhost;srdp_ops=srdp-ops-manager@localhost';
  const roles: Record<string, string[]> = {};
  for (const entry of raw
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const sep = entry.indexOf('=');
    const role = entry.slice(0, sep).trim();
    const addresses = entry
      .slice(sep + 1)
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    if (
      sep < 1 ||
      !/^[A-Za-z0-9_-]+$/.test(role) ||
      addresses.length === 0 ||
      addresses.some((a) => !ADDRESS.test(a))
    ) {
      throw new ConfigError(
        'WFS_MAIL_ROLES',
        `entry "${entry}" must be role=address[,address...] (entries separated by ";")`,
      );
    }
    roles[role] = addresses;
  }
  return roles;
}

function smtpUrl(env: Env): string | null {
  if (!env.WFS_SMTP_URL) return null;
  return url(env, 'WFS_SMTP_URL', '', ['smtp:', 'smtps:']);
}

export function loadConfig(env: Env = process.env): WfsConfig {
  const dataRoot = path.resolve(env.WFS_DATA_ROOT || './var');
  const dir = (variable: string, sub: string) =>
    path.resolve(env[variable] || path.join(dataRoot, sub));
  const processingRoot = dir('WFS_PROCESSING_ROOT', 'processing');
  const resultsRoots = (env.WFS_RESULTS_ROOTS || processingRoot)
    .split(':')
    .filter(Boolean)
    .map((r) => path.resolve(r));
  const executorConfig = executor(env);
  const batch = executorConfig.kind !== 'local';
  const logLevel = (env.WFS_LOG_LEVEL || 'info') as WfsConfig['logLevel'];
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigError('WFS_LOG_LEVEL', 'must be debug, info, warn or error');
  }
  const logFormat = (env.WFS_LOG_FORMAT ||
    (process.stdout.isTTY ? 'pretty' : 'json')) as WfsConfig['logFormat'];
  if (!['json', 'pretty'].includes(logFormat)) {
    throw new ConfigError('WFS_LOG_FORMAT', 'must be json or pretty');
  }
  return {
    databaseUrl: url(env, 'DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/wfs', [
      'postgres:',
      'postgresql:',
    ]),
    redisUrl: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    amqpUrl: url(env, 'AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672', ['amqp:', 'amqps:']),
    port: int(env, 'PORT', 3000, 0, 65535),
    processingRoot,
    qaRoot: dir('WFS_QA_ROOT', 'qa'),
    archiveRoot: dir('WFS_ARCHIVE_ROOT', 'archive'),
    mailDir: dir('WFS_MAIL_DIR', 'mail'),
    resultsRoots,
    apiTokens: tokens(env),
    eventsExchange: name(env, 'WFS_EVENTS_EXCHANGE', 'wfs.events'),
    archiveExchange: name(env, 'WFS_ARCHIVE_EXCHANGE', 'archive.events'),
    queuePrefix: name(env, 'WFS_QUEUE_PREFIX', 'wfs'),
    smtpUrl: smtpUrl(env),
    mailFrom: mailAddress(env, 'WFS_MAIL_FROM', 'wfs@localhost'),
    mailRoles: mailRoles(env),
    processingRetentionDays: int(env, 'WFS_PROCESSING_RETENTION_DAYS', 21, 0, 36500),
    cacheRoot: dir('WFS_CACHE_ROOT', 'cache'),
    cacheRetentionDays: int(env, 'WFS_CACHE_RETENTION_DAYS', 21, 0, 36500),
    jobRowsRetentionDays:
      (env.WFS_JOB_ROWS_RETENTION_DAYS ?? '') === ''
        ? null
        : int(env, 'WFS_JOB_ROWS_RETENTION_DAYS', 0, 0, 36500),
    sweepIntervalSeconds: int(env, 'WFS_SWEEP_INTERVAL_SECONDS', 3600, 1, 7 * 24 * 3600),
    maxUploadBytes: int(env, 'WFS_MAX_UPLOAD_BYTES', 64 * 1024 * 1024, 1),
    maxJobsPerRun: int(env, 'WFS_MAX_JOBS_PER_RUN', 100_000, 1),
    maxJobTimeoutSeconds: int(env, 'WFS_MAX_JOB_TIMEOUT_SECONDS', 7 * 24 * 3600, 1),
    // A batch executor's cluster places the jobs: the worker bounds only what is in flight through it.
    workerConcurrency: int(
      env,
      'WFS_WORKER_CONCURRENCY',
      batch ? 1000 : 8,
      1,
      batch ? 100_000 : 1000,
    ),
    executor: executorConfig,
    workerResources: {
      cpus: int(env, 'WFS_WORKER_CPUS', os.cpus().length, 0, 1_000_000),
      memoryMb: memoryMb(env, 'WFS_WORKER_MEMORY', Math.floor(os.totalmem() / 1024 / 1024)),
      gpus: int(env, 'WFS_WORKER_GPUS', 0, 0, 1024),
      labels: labels(env, 'WFS_WORKER_LABELS'),
    },
    dbPoolSize: int(env, 'WFS_DB_POOL_SIZE', 10, 1, 200),
    workflowsDir: path.resolve(env.WFS_WORKFLOWS_DIR || path.join(PACKAGE_ROOT, 'workflows')),
    tools: toolsFromEnv(env),
    toolsFile: env.WFS_TOOLS_FILE ? path.resolve(env.WFS_TOOLS_FILE) : null,
    hostname: env.WFS_HOSTNAME || os.hostname(),
    logLevel,
    logFormat,
    subscriberQueues: subscriberQueues(env),
    autoWorkflows: autoWorkflows(env),
  };
}
