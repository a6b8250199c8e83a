import { Client } from 'pg';

/**
 * LISTEN on Postgres channels over one dedicated connection, reconnecting
 * with backoff when it drops. NOTIFY is transactional, so a listener hears
 * only of committed changes.
 */
export class PgListener {
  private client: Client | null = null;
  private closed = false;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly url: string,
    private readonly onReconnect: () => void = () => {},
  ) {}

  async listen(channel: string, handler: (payload: string) => void): Promise<void> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      if (this.client) await this.client.query(`LISTEN "${channel}"`);
    }
    set.add(handler);
    if (!this.client) await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new Client({ connectionString: this.url });
    client.on('notification', (msg) => {
      for (const h of this.handlers.get(msg.channel) ?? []) h(msg.payload ?? '');
    });
    client.on('error', () => this.reconnectLater(client));
    client.on('end', () => this.reconnectLater(client));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN "${channel}"`);
      this.client = client;
    } catch {
      this.reconnectLater(client);
    }
  }

  private reconnectLater(client: Client): void {
    if (this.client === client) this.client = null;
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.connect().then(() => this.client && this.onReconnect());
    }, 500);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * A sleep that a poke cuts short: the loops that drain a table (the outbox
 * relay, the mail notifier) wait on it between passes and are poked by NOTIFY.
 * A poke while the loop is not asleep (it is reading the table) is kept: the
 * next sleep returns at once, so a commit made during a pass is never left
 * waiting for the timer.
 */
export class Wakeup {
  private wake: (() => void) | null = null;
  private poked = false;

  poke(): void {
    const w = this.wake;
    this.wake = null;
    if (w) w();
    else this.poked = true;
  }

  sleep(ms: number): Promise<void> {
    if (this.poked) {
      this.poked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

/** LISTENs on a channel and pokes `wakeup` on every notification and after every reconnect. */
export async function wakeOnNotify(
  url: string,
  channel: string,
  wakeup: Wakeup,
): Promise<PgListener> {
  const listener = new PgListener(url, () => wakeup.poke());
  await listener.listen(channel, () => wakeup.poke());
  return listener;
}
