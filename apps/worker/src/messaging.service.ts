import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { AmqpConnection, declareTopology, OutboxRelay } from '@wfs/events';
import { DurableMetrics } from '@wfs/metrics';
import { Database } from '@wfs/persistence';
import { CreateRun } from '@wfs/runs';
import { IngestionConsumer } from '@wfs/triggers';

/** The worker's broker side: topology, the outbox relay, the inbound ingestion trigger. */
@Injectable()
export class MessagingService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('messaging');
  private amqp: AmqpConnection | null = null;
  relay: OutboxRelay | null = null;
  ingestion: IngestionConsumer | null = null;

  constructor(
    @Inject(WFS_CONFIG) private readonly config: WfsConfig,
    @Inject(Database) private readonly db: Database,
    @Inject(CreateRun) private readonly createRun: CreateRun,
    @Inject(DurableMetrics) private readonly metrics: DurableMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const c = this.config;
    this.amqp = new AmqpConnection(c.amqpUrl, this.log, `wfs-worker ${c.hostname}:${process.pid}`);
    await this.amqp.onConnect(async (connection) => {
      const ch = await connection.createChannel();
      await declareTopology(ch, c);
      await ch.close();
    });
    this.relay = new OutboxRelay(this.db, this.amqp, c.eventsExchange, this.log);
    await this.relay.start();
    const relay = this.relay;
    this.metrics.countFrom('events_published', () => relay.published);
    this.ingestion = new IngestionConsumer(
      this.amqp,
      this.createRun,
      c.queuePrefix,
      c.autoWorkflows,
      this.log,
    );
    await this.ingestion.start();
    this.amqp.start();
  }

  /** Resolves once connected to the broker with the topology declared (start-up does not wait for it). */
  ready(): Promise<void> {
    return this.amqp?.ready() ?? Promise.resolve();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.relay?.stop();
    await this.amqp?.close();
    // Last: the jobs in hand were recorded (beforeApplicationShutdown) and the relay has stopped.
    await this.metrics.stop();
  }
}
