import { Client } from 'pg';

/** The lock's connection says it is alive this often... */
const PING_MS = 1000;
/** ...and Postgres ends it (freeing the lock) after this long without a word. */
const SILENT_LIMIT = '5s';

/**
 * One active process per database for a job that must not run twice at once
 * (the outbox relay, the scheduler): a session advisory lock held on a
 * connection of its own. When that connection dies the lock is free and
 * another process takes it at its next try. A holder cut off from the
 * database (its host's link down) cannot close its connection, and Postgres
 * would keep it, and the lock, until TCP gives up (hours): so the holder pings
 * every second, and the session is ended by Postgres after 5 s of silence
 * (`idle_session_timeout`), which frees the lock for another process.
 */
export class LeaderLock {
  private client: Client | null = null;
  private ping: NodeJS.Timeout | null = null;

  constructor(
    private readonly url: string,
    private readonly name: string,
    private readonly onAcquired: () => void = () => undefined,
  ) {}

  /** Whether this process holds the lock (taking it if it is free). */
  async held(): Promise<boolean> {
    if (this.client) return true;
    const client = new Client({ connectionString: this.url });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query(`SET idle_session_timeout = '${SILENT_LIMIT}'`).catch(() => undefined);
      const [row] = (
        await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
          this.name,
        ])
      ).rows;
      if (!row?.ok) {
        await client.end();
        return false;
      }
    } catch {
      await client.end().catch(() => undefined);
      return false;
    }
    const lost = () => {
      if (this.client !== client) return;
      this.client = null;
      if (this.ping) clearInterval(this.ping);
      this.ping = null;
    };
    client.on('end', lost);
    client.on('error', lost);
    this.client = client;
    let inFlight = false;
    this.ping = setInterval(() => {
      if (inFlight) return; // the link is slow or gone: one ping at a time
      inFlight = true;
      client
        .query('SELECT 1')
        .catch(() => {
          lost();
          void client.end().catch(() => undefined);
        })
        .finally(() => (inFlight = false));
    }, PING_MS);
    this.ping.unref();
    this.onAcquired();
    return true;
  }

  async release(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (this.ping) clearInterval(this.ping);
    this.ping = null;
    await c?.end().catch(() => undefined);
  }
}
