import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { consumeJobs, Dispatcher, redisConnection } from '@wfs/dispatch';
import type { JobKey } from '@wfs/domain';
import { ExecuteJob, EXECUTOR, Recovery } from '@wfs/execution';
import type { Executor } from '@wfs/execution';
import { Database, PgListener } from '@wfs/persistence';
import { CANCEL_CHANNEL, JobLifecycle } from '@wfs/runs';

/**
 * Takes jobs off the queue and runs them; kills the processes of cancelled or
 * failed runs; beats its heartbeat and repairs what dead workers or a lost
 * Redis left behind.
 */
@Injectable()
export class JobConsumerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('worker');
  private worker: Worker<JobKey> | null = null;
  private listener: PgListener | null = null;
  private recovery: Recovery | null = null;
  private redis: Redis | null = null;

  constructor(
    @Inject(WFS_CONFIG) private readonly config: WfsConfig,
    @Inject(ExecuteJob) private readonly executeJob: ExecuteJob,
    @Inject(EXECUTOR) private readonly executor: Executor,
    @Inject(Database) private readonly db: Database,
    @Inject(JobLifecycle) private readonly lifecycle: JobLifecycle,
    @Inject(Dispatcher) private readonly dispatcher: Dispatcher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.recovery = new Recovery(
      this.db,
      this.lifecycle,
      this.dispatcher,
      this.executor,
      this.config.hostname,
      this.log,
    );
    await this.recovery.start();
    this.listener = new PgListener(this.config.databaseUrl);
    await this.listener.listen(CANCEL_CHANNEL, (payload) => {
      const killed = this.executor.cancelRun(Number(payload));
      if (killed > 0) this.log.log(`run ${payload}: stopped ${killed} process group(s)`);
    });
    this.redis = redisConnection(this.config.redisUrl);
    this.worker = consumeJobs(
      this.redis,
      this.config.queuePrefix,
      this.config.workerConcurrency,
      (key) => this.executeJob.handle(key),
    );
    this.worker.on('failed', (job, err) =>
      this.log.warn(`job ${job?.id ?? '?'}: ${err.message} (the reconciler re-sends it if needed)`),
    );
    this.worker.on('error', (err) => this.log.warn(`queue: ${err.message}`));
    this.log.log(
      `worker ${this.lifecycle.workerId}: consuming ${this.config.queuePrefix}:jobs, concurrency ${this.config.workerConcurrency}`,
    );
  }

  /** Stop taking work, let the jobs in hand finish and be recorded, then let go. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.worker?.close();
    await this.lifecycle.settled();
    this.redis?.disconnect();
    await this.recovery?.stop();
    await this.listener?.close();
  }
}
