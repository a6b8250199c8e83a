import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  Module,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { redisConnection } from '@wfs/dispatch';
import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import type { MailJob } from './mail-content';
import { MailTransport } from './mail-transport';
import { consumeMail, mailQueue, Notifier } from './notifier';

/** The worker's mail side: the notifier (events -> mail jobs) and the mail sender (mail jobs -> SMTP or .eml). */
@Injectable()
export class NotificationsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('mail');
  private redis: Redis[] = [];
  private queue: Queue<MailJob> | null = null;
  private sender: Worker<MailJob> | null = null;
  private transport: MailTransport | null = null;
  notifier: Notifier | null = null;

  constructor(
    @Inject(WFS_CONFIG) private readonly config: WfsConfig,
    @Inject(Database) private readonly db: Database,
    @Inject(WorkflowCatalog) private readonly catalog: WorkflowCatalog,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const c = this.config;
    this.redis = [redisConnection(c.redisUrl), redisConnection(c.redisUrl)];
    this.queue = mailQueue(this.redis[0] as Redis, c.queuePrefix);
    this.transport = new MailTransport({
      smtpUrl: c.smtpUrl,
      mailDir: c.mailDir,
      from: c.mailFrom,
    });
    this.sender = consumeMail(this.redis[1] as Redis, c.queuePrefix, this.transport, this.log);
    this.notifier = new Notifier(this.db, this.catalog, this.queue, c.mailRoles, this.log);
    await this.notifier.start();
    this.log.log(`mail: ${c.smtpUrl ? 'SMTP' : `.eml files in ${c.mailDir}`}, from ${c.mailFrom}`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.notifier?.stop();
    await this.sender?.close();
    await this.queue?.close();
    this.transport?.close();
    for (const r of this.redis) r.disconnect();
  }
}

/** Imported by the worker; needs the global config, Database and WorkflowCatalog providers. */
@Module({ providers: [NotificationsService], exports: [NotificationsService] })
export class NotificationsModule {}
