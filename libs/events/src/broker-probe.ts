import * as amqp from 'amqplib';

/** Keeps one broker connection for health checks; reconnects on the next check after a loss. */
export class BrokerProbe {
  private connection: amqp.ChannelModel | null = null;
  private connecting: Promise<void> | null = null;

  constructor(private readonly url: string) {}

  async isUp(timeoutMs = 2000): Promise<boolean> {
    if (this.connection) return true;
    this.connecting ??= amqp
      .connect(this.url, { timeout: timeoutMs })
      .then((c) => {
        c.on('error', () => undefined);
        c.on('close', () => (this.connection = null));
        this.connection = c;
      })
      .catch(() => undefined)
      .finally(() => (this.connecting = null));
    await this.connecting;
    return this.connection !== null;
  }

  async close(): Promise<void> {
    const c = this.connection;
    this.connection = null;
    await c?.close().catch(() => undefined);
  }
}
