import { Job, Queue, Worker } from 'bullmq';
import IORedis, { Redis } from 'ioredis';
import type { JobKey } from '@wfs/domain';

export const JOBS_QUEUE = 'jobs';

export function redisConnection(url: string): Redis {
  // BullMQ workers block on Redis: they need unlimited retries per request.
  return new IORedis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: false,
  });
}

/** BullMQ job id: one per (job instance, attempt), so a repeated enqueue is a no-op. */
export const bullJobId = (k: JobKey): string => `${k.runId}.${k.name}.${k.index}.${k.attempt}`;

/**
 * Puts ready job instances on the queue. Redis is only the dispatch medium:
 * Postgres says what should run, so a lost message is re-sent from there.
 */
export class Dispatcher {
  readonly queue: Queue;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue(JOBS_QUEUE, {
      connection,
      prefix,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
    });
  }

  async enqueue(keys: readonly JobKey[], delayMs = 0): Promise<void> {
    const opts = (k: JobKey) => ({ jobId: bullJobId(k), delay: delayMs > 0 ? delayMs : undefined });
    // One job: one script call (addBulk wraps even one in MULTI/EXEC).
    if (keys.length === 1) {
      const k = keys[0] as JobKey;
      await this.queue.add(k.name, k, opts(k));
      return;
    }
    for (let i = 0; i < keys.length; i += 1000) {
      await this.queue.addBulk(
        keys.slice(i, i + 1000).map((k) => ({ name: k.name, data: k, opts: opts(k) })),
      );
    }
  }

  /** Those of `keys` whose message is not in Redis at all (lost with a flush or restart). */
  async missing(keys: readonly JobKey[]): Promise<JobKey[]> {
    if (keys.length === 0) return [];
    const client = (await this.queue.client) as unknown as Redis;
    const pipeline = client.pipeline();
    for (const k of keys) pipeline.exists(this.queue.toKey(bullJobId(k)));
    const results = (await pipeline.exec()) ?? [];
    return keys.filter((_, i) => results[i]?.[1] === 0);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

export type JobHandler = (key: JobKey, job: Job<JobKey>) => Promise<void>;

/** A BullMQ worker on the jobs queue; the handler must be idempotent. */
export function consumeJobs(
  connection: Redis,
  prefix: string,
  concurrency: number,
  handler: JobHandler,
): Worker<JobKey> {
  return new Worker<JobKey>(JOBS_QUEUE, (job) => handler(job.data, job), {
    connection,
    prefix,
    concurrency,
    // A job runs as long as its own timeout says; the lock is renewed while it runs (every 10 s).
    // A message a dead worker had taken but not claimed in Postgres yet goes back to the queue
    // once its lock lapses, found by the stalled check: within ~30 s, as its claimed jobs are.
    lockDuration: 20_000,
    stalledInterval: 10_000,
    maxStalledCount: 1,
  });
}
