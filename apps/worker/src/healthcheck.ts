import { Client } from 'pg';
import { loadConfig } from '@wfs/config';
import { WORKER_DEAD_AFTER_S } from '@wfs/domain';

/**
 * A container's healthcheck for the worker (docker-compose.yml): healthy when
 * a worker of this host has beaten its heartbeat in Postgres within the time
 * after which the others would declare it dead. Exit status 0 or 1.
 */
async function main(): Promise<number> {
  const config = loadConfig();
  const client = new Client({
    connectionString: config.databaseUrl,
    connectionTimeoutMillis: 5000,
  });
  await client.connect();
  try {
    const { rowCount } = await client.query(
      `SELECT 1 FROM workers WHERE host = $1 AND last_seen > now() - make_interval(secs => $2)`,
      [config.hostname, WORKER_DEAD_AFTER_S],
    );
    return rowCount ? 0 : 1;
  } finally {
    await client.end();
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`worker healthcheck: ${e.message}`);
    process.exit(1);
  },
);
