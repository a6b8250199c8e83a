/**
 * Fault tests, Redis and Postgres: the instance's Redis keys deleted while
 * runs are queued and running, and every Postgres connection of the service
 * killed (pg_terminate_backend), again and again for a few seconds, during a
 * burst. Each test runs its own deployment of real processes (own
 * database, Redis prefix, queue and exchange names) under a load of more
 * than 100 runs in flight and ends with the full accounting
 * (expectNothingLost). Only the deployment's own keys and connections are
 * touched.
 */
import IORedis from 'ioredis';
import {
  createRuns,
  expectNothingLost,
  inFlight,
  jobsIn,
  terminateServiceConnections,
  until,
  withDeployment,
} from '@wfs/testing';

const log = (m: string) => process.stdout.write(`[faults] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deletes every key under the prefix; returns how many. */
async function deleteKeys(url: string, prefix: string): Promise<number> {
  const redis = new IORedis(url);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

test('Redis keys of the instance deleted while runs are queued and running: runs are re-dispatched from Postgres, no job runs twice at once', async () => {
  await withDeployment({ workers: 2, env: { WFS_WORKER_CONCURRENCY: '20' } }, async (ctx) => {
    const { d } = ctx;
    const ids = await createRuns(
      d,
      150,
      't_fault',
      { seconds: 4, after: 0.3, spanLog: ctx.spanLog },
      { parallel: 8 },
    );
    const state = await until(
      'runs queued and running',
      async () => {
        const s = {
          flying: await inFlight(d.db),
          running: await jobsIn(d.db, 'running'),
          queued: Number(
            (
              await d.db.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM jobs WHERE state = 'idle' AND dispatched_at IS NOT NULL`,
              )
            )[0]!.n,
          ),
        };
        return s.flying >= 100 && s.running >= 30 && s.queued >= 50 ? s : null;
      },
      30_000,
    );
    const deleted = await deleteKeys(d.config.redisUrl, d.config.queuePrefix);
    const deletedAt = Date.now();
    log(
      `redis: deleted ${deleted} keys with ${state.flying} runs in flight, ${state.running} jobs running, ${state.queued} queued`,
    );
    expect(deleted).toBeGreaterThan(0);
    // Nothing is left to take from Redis until the reconciler sends the queued jobs again.
    const resumed = await until(
      'a job started after the flush',
      async () => {
        const [row] = await d.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM jobs WHERE name = 'work' AND started_at > to_timestamp($1 / 1000.0)`,
          [deletedAt],
        );
        return row!.n > 0 ? Date.now() : null;
      },
      60_000,
    );
    log(`redis: first queued job re-sent and started ${resumed - deletedAt} ms after the flush`);
    const { delivery, spans, settledMs } = await expectNothingLost(ctx, ids, 120_000);
    log(
      `redis: all complete ${Math.round((Date.now() - deletedAt) / 1000)} s after the flush (settled ${settledMs} ms after the check began); ${delivery.events} events, ${delivery.received} delivered; ${spans.attempts} spantool attempts for ${spans.instances} instances`,
    );
  });
}, 180_000);

test('Postgres connections killed again and again during a burst: the service recovers without a restart', async () => {
  await withDeployment({ workers: 2, env: { WFS_WORKER_CONCURRENCY: '25' } }, async (ctx) => {
    const { d } = ctx;
    const t0 = Date.now();
    const burst = createRuns(
      d,
      150,
      't_fault',
      { seconds: 3, after: 0.3, spanLog: ctx.spanLog },
      { parallel: 6, patient: true },
    );
    await until('100 runs in flight', async () => (await inFlight(d.db)) >= 100, 60_000);
    const flying = await inFlight(d.db);
    const k0 = Date.now();
    let killed = 0;
    let rounds = 0;
    while (Date.now() - k0 < 5_000) {
      killed += await terminateServiceConnections(d);
      rounds++;
      await sleep(200);
    }
    log(
      `postgres: ${flying} runs in flight; ${killed} connections killed in ${rounds} rounds over ${Date.now() - k0} ms`,
    );
    expect(killed).toBeGreaterThan(rounds);
    const ids = await burst;
    log(`postgres: burst of ${ids.length} runs created in ${Date.now() - t0} ms`);
    const { delivery, settledMs } = await expectNothingLost(ctx, ids, 120_000);
    log(
      `postgres: all complete ${Math.round((Date.now() - k0) / 1000)} s after the first kill (settled ${settledMs} ms after the burst); ${delivery.events} events, ${delivery.received} delivered`,
    );
    // Still the same processes: nothing had to be restarted.
    expect(d.workers).toHaveLength(2);
    for (const p of [d.api!, ...d.workers]) expect(p.child.exitCode).toBeNull();
  });
}, 180_000);
