import { Client } from 'pg';

/**
 * One active process per database for a job that must not run twice at once
 * (the outbox relay, the scheduler): a session advisory lock held on a
 * connection of its own. When that connection dies the lock is free and
 * another process takes it at its next try.
 */
export class LeaderLock {
  private client: Client | null = null;

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
    client.on('end', () => {
      if (this.client === client) this.client = null;
    });
    this.client = client;
    this.onAcquired();
    return true;
  }

  async release(): Promise<void> {
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }
}
