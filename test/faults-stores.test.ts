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
  startBurst,
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
    // Held at the gate: 40 jobs running (the workers' slots), the rest queued in Redis.
    const ids = await createRuns(
      d,
      150,
      't_fault',
      { seconds: 2, after: 0.3, spanLog: ctx.spanLog, gate: ctx.gate },
      { parallel: 8 },
    );
    const state = await until(
      'runs queued and running',
      async () => {
        const s = {
          flying: await inFlight(d.db),
          running: await jobsIn(d.db, 'running'),
          queued: (
            await d.db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM jobs WHERE state = 'idle' AND dispatched_at IS NOT NULL`,
            )
          )[0]!.n,
        };
        return s.flying >= 100 && s.running >= 40 && s.queued >= 100 ? s : null;
      },
      30_000,
    );
    const deleted = await deleteKeys(d.config.redisUrl, d.config.queuePrefix);
    const deletedAt = Date.now();
    ctx.openGate();
    log(
      `redis: deleted ${deleted} keys with ${state.flying} runs in flight, ${state.running} jobs running, ${state.queued} queued`,
    );
    expect(deleted).toBeGreaterThan(0);
    // Nothing queued is left in Redis: the queued jobs start only once the reconciler sends them again.
    const resumed = await until(
      'a queued job to start after the flush',
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
      `redis: all complete ${Math.round((Date.now() - deletedAt) / 1000)} s after the flush (settled ${settledMs} ms after the check began); ` +
        `${delivery.events} events, ${delivery.received} delivered; ${spans.attempts} spantool attempts for ${spans.instances} instances`,
    );
  });
}, 180_000);

test('Postgres connections killed again and again during a burst: the service recovers without a restart', async () => {
  await withDeployment({ workers: 2, env: { WFS_WORKER_CONCURRENCY: '25' } }, async (ctx) => {
    const { d } = ctx;
    const held = await createRuns(
      d,
      120,
      't_fault',
      { seconds: 1, after: 0.3, spanLog: ctx.spanLog, gate: ctx.gate },
      { parallel: 8 },
    );
    const flying = await inFlight(d.db);
    expect(flying).toBeGreaterThanOrEqual(100);
    // The burst through the outage: new runs keep coming (calls that fail are tried again), and
    // the held ones are let go a second in, so jobs are claimed and finished while connections die.
    const burst = startBurst(
      d,
      't_fault',
      { seconds: 1, after: 0.2, spanLog: ctx.spanLog },
      { parallel: 3 },
    );
    const k0 = Date.now();
    let killed = 0;
    let rounds = 0;
    while (Date.now() - k0 < 5_000) {
      killed += await terminateServiceConnections(d);
      rounds++;
      if (rounds === 5) ctx.openGate();
      await sleep(200);
    }
    log(
      `postgres: ${flying} runs in flight; ${killed} connections killed in ${rounds} rounds over ${Date.now() - k0} ms`,
    );
    expect(killed).toBeGreaterThan(rounds);
    const ids = [...held, ...(await burst.stop())];
    const { delivery, settledMs } = await expectNothingLost(ctx, ids, 120_000);
    log(
      `postgres: all ${ids.length} complete ${Math.round((Date.now() - k0) / 1000)} s after the first kill (settled ${settledMs} ms after the burst); ` +
        `${delivery.events} events, ${delivery.received} delivered`,
    );
    // Still the same processes: nothing had to be restarted.
    expect(d.workers).toHaveLength(2);
    for (const p of [d.api!, ...d.workers]) expect(p.child.exitCode).toBeNull();
  });
}, 180_000);
