/**
 * Fault tests, RabbitMQ: the broker restarted during a burst, and the broker
 * stopped for 30 s while runs are created and finish. Each test runs its own
 * deployment of real processes under a load of more than 100 runs in
 * flight (held at t_fault's gate until the fault, so the count does not
 * depend on the machine's speed) and ends with the full accounting
 * (expectNothingLost). They stop the machine's broker application
 * (`rabbitmqctl stop_app`), which every user of the broker notices; each
 * starts it again in a finally and waits until it serves (`rabbitmqctl
 * await_startup`).
 */
import {
  createRuns,
  ensureBrokerUp,
  expectNothingLost,
  inFlight,
  rabbitmqctl,
  startBurst,
  until,
  withDeployment,
} from '@wfs/testing';

const log = (m: string) => process.stdout.write(`[faults] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function outbox(db: {
  query<T>(sql: string): Promise<T[]>;
}): Promise<{ events: number; unpublished: number }> {
  const [row] = await db.query<{ events: number; unpublished: number }>(
    'SELECT count(*)::int AS events, (count(*) FILTER (WHERE published_at IS NULL))::int AS unpublished FROM events',
  );
  return row!;
}

test('RabbitMQ restarted during a burst: no event is lost, the outbox drains after', async () => {
  await withDeployment({ workers: 2, env: { WFS_WORKER_CONCURRENCY: '30' } }, async (ctx) => {
    const { d } = ctx;
    const held = await createRuns(
      d,
      120,
      't_fault',
      { seconds: 2, after: 0.3, spanLog: ctx.spanLog, gate: ctx.gate },
      { parallel: 8 },
    );
    const flying = await inFlight(d.db);
    expect(flying).toBeGreaterThanOrEqual(100);
    // The burst: the held runs go on, more come, while the broker restarts.
    const t0 = Date.now();
    const burst = startBurst(
      d,
      't_fault',
      { seconds: 1, after: 0.2, spanLog: ctx.spanLog },
      { parallel: 2 },
    );
    ctx.openGate();
    await sleep(1000);
    const before = await outbox(d.db);
    try {
      const r0 = Date.now();
      await rabbitmqctl('stop_app');
      const r1 = Date.now();
      await rabbitmqctl('start_app');
      await rabbitmqctl('await_startup');
      log(
        `broker restart: ${flying} runs in flight, ${before.events} events so far (${before.unpublished} unpublished); ` +
          `stop_app ${r0 - t0} ms into the burst took ${r1 - r0} ms, serving again ${Date.now() - r1} ms later`,
      );
    } finally {
      await ensureBrokerUp(d.config.amqpUrl);
    }
    await sleep(1000);
    const ids = [...held, ...(await burst.stop())];
    const { delivery, settledMs } = await expectNothingLost(ctx, ids, 150_000);
    log(
      `broker restart: all ${ids.length} complete ${settledMs} ms after the burst; ${delivery.events} events, ` +
        `${delivery.received} delivered (${delivery.received - delivery.distinct} duplicates)`,
    );
  });
}, 240_000);

test('RabbitMQ stopped for 30 s while runs are created and finish: the events wait in Postgres and arrive in order', async () => {
  await withDeployment({ workers: 2, env: { WFS_WORKER_CONCURRENCY: '40' } }, async (ctx) => {
    const { d } = ctx;
    let stoppedAt = 0;
    try {
      await rabbitmqctl('stop_app');
      stoppedAt = Date.now();
      const ids = await createRuns(
        d,
        120,
        't_fault',
        { seconds: 1, after: 0.2, spanLog: ctx.spanLog, gate: ctx.gate },
        { parallel: 8 },
      );
      const flying = await inFlight(d.db);
      expect(flying).toBeGreaterThanOrEqual(100);
      ctx.openGate();
      // The runs finish without the broker.
      await until(
        'every run to end with the broker down',
        async () => (await inFlight(d.db)) === 0,
        25_000,
      );
      const waiting = await outbox(d.db);
      log(
        `broker down: ${ids.length} runs (${flying} in flight at once) ended ${Date.now() - stoppedAt} ms into the outage; ` +
          `${waiting.unpublished} of ${waiting.events} events waiting in Postgres`,
      );
      expect(waiting.unpublished).toBe(waiting.events);
      const left = 30_000 - (Date.now() - stoppedAt);
      if (left > 0) await sleep(left);
      expect(await outbox(d.db)).toEqual(waiting);

      const starting = Date.now();
      await rabbitmqctl('start_app');
      await rabbitmqctl('await_startup');
      log(
        `broker down: broker started again after ${starting - stoppedAt} ms, serving ${Date.now() - starting} ms later`,
      );
      await until(
        'the outbox to drain',
        async () => (await outbox(d.db)).unpublished === 0,
        60_000,
      );
      log(
        `broker down: outbox drained ${Date.now() - starting} ms after start_app began (reconnect included)`,
      );
      const { delivery } = await expectNothingLost(ctx, ids, 10_000);
      expect(delivery.events).toBe(waiting.events);
      log(`broker down: ${delivery.events} events, ${delivery.received} delivered`);
    } finally {
      await ensureBrokerUp(d.config.amqpUrl);
    }
  });
}, 180_000);
