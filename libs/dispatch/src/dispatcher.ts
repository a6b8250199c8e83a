import { Job, Queue, Worker } from 'bullmq';
import IORedis, { Redis } from 'ioredis';
import type { JobKey } from '@wfs/domain';

export function redisConnection(url: string): Redis {
  // BullMQ workers block on Redis: they need unlimited retries per request.
  return new IORedis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: false,
  });
}

/** A worker's own queue: the scheduler puts there only what it placed on that worker. */
export const workerQueueName = (workerId: string): string =>
  `jobs-${workerId.replace(/[^A-Za-z0-9_.-]/g, '_')}`;

/** BullMQ job id: one per (job instance, attempt), so a repeated send is a no-op. */
export const bullJobId = (k: JobKey): string => `${k.runId}.${k.name}.${k.index}.${k.attempt}`;

/**
 * Carries placed job instances to the worker they were placed on, one BullMQ
 * queue per worker. Redis is only the dispatch medium: Postgres says what is
 * placed where, so a lost message is re-sent from there, and a message that
 * reaches a worker the instance is no longer placed on starts nothing.
 */
export class Dispatcher {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
  ) {}

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, {
        connection: this.connection,
        prefix: this.prefix,
        defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
      });
      this.queues.set(name, q);
    }
    return q;
  }

  /** Sends placed instances to a worker's queue. */
  async send(queueName: string, keys: readonly JobKey[]): Promise<void> {
    const queue = this.queue(queueName);
    // One job: one script call (addBulk wraps even one in MULTI/EXEC).
    if (keys.length === 1) {
      const k = keys[0] as JobKey;
      await queue.add(k.name, k, { jobId: bullJobId(k) });
      return;
    }
    for (let i = 0; i < keys.length; i += 1000) {
      await queue.addBulk(
        keys
          .slice(i, i + 1000)
          .map((k) => ({ name: k.name, data: k, opts: { jobId: bullJobId(k) } })),
      );
    }
  }

  /** Those of `keys` whose message is not in the worker's queue at all (lost with a flush or restart). */
  async missing(queueName: string, keys: readonly JobKey[]): Promise<JobKey[]> {
    if (keys.length === 0) return [];
    const queue = this.queue(queueName);
    const client = (await queue.client) as unknown as Redis;
    const pipeline = client.pipeline();
    for (const k of keys) pipeline.exists(queue.toKey(bullJobId(k)));
    const results = (await pipeline.exec()) ?? [];
    return keys.filter((_, i) => results[i]?.[1] === 0);
  }

  /** Removes a worker's queue with what is left in it (the worker is gone; Postgres re-places its jobs). */
  async drop(queueName: string): Promise<void> {
    const queue = this.queue(queueName);
    await queue.obliterate({ force: true });
    await queue.close();
    this.queues.delete(queueName);
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}

export type JobHandler = (key: JobKey, job: Job<JobKey>) => Promise<void>;

/** A BullMQ worker on this worker's own queue; the handler must be idempotent. */
export function consumeJobs(
  connection: Redis,
  prefix: string,
  queueName: string,
  concurrency: number,
  handler: JobHandler,
): Worker<JobKey> {
  return new Worker<JobKey>(queueName, (job) => handler(job.data, job), {
    connection,
    prefix,
    concurrency,
    // A job runs as long as its own timeout says; the lock is renewed while it runs (every 10 s).
    lockDuration: 20_000,
    stalledInterval: 10_000,
    maxStalledCount: 1,
  });
}
