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
import { consumeJobs, Dispatcher, redisConnection, workerQueueName } from '@wfs/dispatch';
import { formatMemory, JobKey } from '@wfs/domain';
import { ExecuteJob, EXECUTOR, Recovery } from '@wfs/execution';
import type { Executor } from '@wfs/execution';
import { DurableMetrics } from '@wfs/metrics';
import { Database, PgListener } from '@wfs/persistence';
import {
  CANCEL_CHANNEL,
  DecideGate,
  GateTimeouts,
  GroupProgressSender,
  PROGRESS_INTERVAL_MS,
  HoldJobs,
  JobLifecycle,
  STOP_CHANNEL,
} from '@wfs/runs';
import { Scheduler } from '@wfs/scheduling';
import { WorkflowCatalog } from '@wfs/workflows';

/**
 * Registers this worker with what it offers (cpus, memory, gpus, labels,
 * slots), takes the jobs the scheduler placed on it off its own queue and
 * runs them; kills the processes of cancelled or failed runs and of attempts
 * an operator held; beats its heartbeat and repairs what dead workers or a
 * lost Redis left behind; and takes its turn as the scheduler (one active
 * per database).
 */
@Injectable()
export class JobConsumerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('worker');
  private worker: Worker<JobKey> | null = null;
  private listener: PgListener | null = null;
  private recovery: Recovery | null = null;
  private scheduler: Scheduler | null = null;
  private redis: Redis | null = null;
  private gateTimer: NodeJS.Timeout | null = null;
  private progressTimer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(WFS_CONFIG) private readonly config: WfsConfig,
    @Inject(ExecuteJob) private readonly executeJob: ExecuteJob,
    @Inject(EXECUTOR) private readonly executor: Executor,
    @Inject(Database) private readonly db: Database,
    @Inject(JobLifecycle) private readonly lifecycle: JobLifecycle,
    @Inject(Dispatcher) private readonly dispatcher: Dispatcher,
    @Inject(WorkflowCatalog) private readonly catalog: WorkflowCatalog,
    @Inject(HoldJobs) private readonly holds: HoldJobs,
    @Inject(DecideGate) private readonly gates: DecideGate,
    @Inject(DurableMetrics) private readonly metrics: DurableMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const queue = workerQueueName(this.lifecycle.workerId);
    const r = this.config.workerResources;
    this.listener = new PgListener(this.config.databaseUrl);
    await this.listener.listen(CANCEL_CHANNEL, (payload) => {
      const killed = this.executor.cancelRun(Number(payload));
      if (killed > 0)
        this.log.log({
          msg: `run ${payload}: stopped ${killed} attempt(s)`,
          runId: Number(payload),
        });
    });
    // `<run>,<job>,<index>,<attempt>`: an attempt an operator held.
    await this.listener.listen(STOP_CHANNEL, (payload) => {
      const [runId, name, index, attempt] = payload.split(',');
      const key = {
        runId: Number(runId),
        name: name ?? '',
        index: Number(index),
        attempt: Number(attempt),
      };
      if (this.executor.stopAttempts([key]) > 0)
        this.log.log({
          msg: `attempt ${payload}: stopped (held)`,
          runId: key.runId,
          job: key.name,
          index: key.index,
          attempt: key.attempt,
        });
    });
    this.metrics.start();
    this.executeJob.onFinished = (workflow, job, seconds) =>
      this.metrics.observeJob(workflow, job, seconds);
    this.redis = redisConnection(this.config.redisUrl);
    this.worker = consumeJobs(
      this.redis,
      this.config.queuePrefix,
      queue,
      this.config.workerConcurrency,
      (key) => this.executeJob.handle(key),
    );
    this.worker.on('failed', (job, err) =>
      this.log.warn({
        msg: `job ${job?.id ?? '?'}: ${err.message} (the reconciler re-sends it if needed)`,
        ...(job
          ? {
              runId: job.data.runId,
              job: job.data.name,
              index: job.data.index,
              attempt: job.data.attempt,
            }
          : {}),
        workerId: this.lifecycle.workerId,
      }),
    );
    this.worker.on('error', (err) => this.log.warn(`queue: ${err.message}`));
    // Registered (and the scheduler told) only once its queue is consumed.
    this.recovery = new Recovery(
      this.db,
      this.lifecycle,
      this.dispatcher,
      this.executor,
      this.config.hostname,
      this.log,
      {
        executor: this.executor.kind,
        ...r,
        slots: this.config.workerConcurrency,
        queue,
      },
      undefined,
      // A submit host re-attaches to the batch attempts of one that died (or of its own last life).
      (key, clusterJobId) => this.executeJob.reattach(key, clusterJobId),
    );
    await this.recovery.start();
    // Gates with onTimeout decide themselves once they waited their timeout (idempotent: any worker).
    const timeouts = new GateTimeouts(this.db, this.catalog, this.gates, this.log);
    let ticking = false;
    this.gateTimer = setInterval(() => {
      if (ticking) return;
      ticking = true;
      void timeouts
        .tick()
        .catch((e: unknown) => this.log.warn(`gate timeouts: ${(e as Error).message}`))
        .finally(() => (ticking = false));
    }, 2000);
    // Summary groups' group-progress events, at most once a second each (idempotent: any worker).
    const progress = new GroupProgressSender(this.db, this.catalog, this.log);
    let sending = false;
    this.progressTimer = setInterval(() => {
      if (sending) return;
      sending = true;
      void progress
        .tick()
        .catch((e: unknown) => this.log.warn(`group progress: ${(e as Error).message}`))
        .finally(() => (sending = false));
    }, PROGRESS_INTERVAL_MS / 4);
    this.scheduler = new Scheduler(this.db, this.catalog, this.dispatcher, this.holds, this.log);
    await this.scheduler.start();
    if (this.executor.kind !== 'local')
      this.log.log(
        `worker ${this.lifecycle.workerId}: a ${this.executor.kind} submit host, up to ${this.config.workerConcurrency} jobs in flight`,
      );
    else
      this.log.log(
        `worker ${this.lifecycle.workerId}: ${r.cpus} cpus, ${formatMemory(r.memoryMb)}, ${r.gpus} gpus` +
          `${r.labels.length ? `, labels ${r.labels.join(',')}` : ''}; up to ${this.config.workerConcurrency} jobs at once`,
      );
  }

  /**
   * Stop taking work, let the jobs in hand finish and be recorded, then let
   * go. A submit host does not wait for its batch jobs: it lets go of them
   * (they run on in the cluster) and the next one re-attaches.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.gateTimer) clearInterval(this.gateTimer);
    if (this.progressTimer) clearInterval(this.progressTimer);
    await this.scheduler?.stop();
    if (this.executor.kind !== 'local') await this.executor.stopAll();
    await this.worker?.close();
    await this.lifecycle.settled();
    await this.recovery?.stop();
    this.redis?.disconnect();
    await this.listener?.close();
  }
}
