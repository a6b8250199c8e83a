import * as amqp from 'amqplib';

type Setup = (connection: amqp.ChannelModel) => Promise<void>;

/**
 * One broker connection that comes back by itself: reconnects with backoff
 * after any loss and runs every registered setup again on the new
 * connection (channels, topology, consumers).
 */
export class AmqpConnection {
  private connection: amqp.ChannelModel | null = null;
  private readonly setups: Setup[] = [];
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly url: string,
    private readonly log: { warn(m: string): void; log(m: string): void },
    private readonly name: string,
  ) {}

  get isConnected(): boolean {
    return this.connection !== null;
  }

  /** Runs now if connected, and after every reconnect. */
  async onConnect(setup: Setup): Promise<void> {
    this.setups.push(setup);
    if (this.connection) await setup(this.connection);
  }

  start(): void {
    void this.connect();
  }

  /** Resolves once connected (or when closed). */
  ready(): Promise<void> {
    if (this.connection || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let connection: amqp.ChannelModel;
    try {
      connection = await amqp.connect(this.url, {
        clientProperties: { connection_name: this.name },
      });
    } catch (e) {
      this.retry(`cannot connect: ${(e as Error).message}`);
      return;
    }
    connection.on('error', () => undefined); // 'close' follows and handles it
    connection.on('close', () => {
      if (this.connection === connection) this.connection = null;
      this.retry('connection lost');
    });
    try {
      for (const setup of this.setups) await setup(connection);
    } catch (e) {
      await connection.close().catch(() => undefined);
      this.retry(`setup failed: ${(e as Error).message}`);
      return;
    }
    if (this.attempt > 0) this.log.log(`${this.name}: connected to the broker again`);
    this.attempt = 0;
    this.connection = connection;
    for (const w of this.waiters.splice(0)) w();
  }

  private retry(why: string): void {
    if (this.closed || this.timer) return;
    const delay = Math.min(5000, 200 * 2 ** this.attempt);
    if (this.attempt === 0 || this.attempt % 10 === 0)
      this.log.warn(`${this.name}: ${why}; retrying`);
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.waiters.splice(0)) w();
    const c = this.connection;
    this.connection = null;
    if (c) {
      c.removeAllListeners('close');
      await c.close().catch(() => undefined);
    }
  }
}
