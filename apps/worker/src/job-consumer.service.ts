import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Worker } from 'bullmq';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { consumeJobs, JobKey, redisConnection } from '@wfs/dispatch';
import { ExecuteJob, EXECUTOR } from '@wfs/execution';
import type { Executor } from '@wfs/execution';
import { PgListener } from '@wfs/persistence';
import { CANCEL_CHANNEL } from '@wfs/runs';

/** Takes jobs off the queue and runs them; kills the processes of cancelled or failed runs. */
@Injectable()
export class JobConsumerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('worker');
  private worker: Worker<JobKey> | null = null;
  private listener: PgListener | null = null;

  constructor(
    @Inject(WFS_CONFIG) private readonly config: WfsConfig,
    @Inject(ExecuteJob) private readonly executeJob: ExecuteJob,
    @Inject(EXECUTOR) private readonly executor: Executor,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.listener = new PgListener(this.config.databaseUrl);
    await this.listener.listen(CANCEL_CHANNEL, (payload) => {
      const killed = this.executor.cancelRun(Number(payload));
      if (killed > 0) this.log.log(`run ${payload}: stopped ${killed} process group(s)`);
    });
    this.worker = consumeJobs(redisConnection(this.config.redisUrl), this.config.queuePrefix, this.config.workerConcurrency, (key) =>
      this.executeJob.handle(key),
    );
    this.worker.on('failed', (job, err) => this.log.error(`job ${job?.id ?? '?'} failed in the worker: ${err.message}`));
    this.worker.on('error', (err) => this.log.error(`queue error: ${err.message}`));
    this.log.log(`consuming ${this.config.queuePrefix}:jobs with concurrency ${this.config.workerConcurrency}`);
  }

  async onApplicationShutdown(): Promise<void> {
    // Stop taking work, let the jobs in hand finish and be recorded, then let go.
    await this.worker?.close();
    await this.listener?.close();
  }
}
