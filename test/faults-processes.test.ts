/**
 * Fault tests, processes: a worker killed with SIGKILL mid-job, and the API
 * and the workers restarted during a burst. Each test runs its own
 * deployment of real processes (the compiled API and workers) with its own
 * database, Redis prefix, queue and exchange names, under a load of more
 * than 100 runs in flight, and ends with the full accounting
 * (expectNothingLost).
 */
import {
  createRuns,
  expectNothingLost,
  inFlight,
  jobsIn,
  until,
  withDeployment,
} from '@wfs/testing';

const log = (m: string) => process.stdout.write(`[faults] ${m}\n`);

test('kill -9 a worker mid-job: its jobs are retried on another worker and every run completes', async () => {
  await withDeployment({ workers: 2, env: { WFS_WORKER_CONCURRENCY: '60' } }, async (ctx) => {
    const { d } = ctx;
    const t0 = Date.now();
    // Jobs outlive the detection of the dead worker (20-25 s), so their orphaned processes must be stopped before the retry.
    const ids = await createRuns(d, 120, 't_fault', {
      seconds: 30,
      after: 0.5,
      spanLog: ctx.spanLog,
    });
    log(`kill -9: 120 runs created in ${Date.now() - t0} ms`);
    const victim = d.workers[0]!;
    // Mid-job: the victim holds many running spantool processes.
    const running = await until(
      'the victim to run jobs',
      async () => {
        const [row] = await d.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM jobs WHERE state = 'running' AND worker_id LIKE $1`,
          [`%:${victim.pid}:%`],
        );
        return row!.n >= 20 ? row!.n : null;
      },
      30_000,
    );
    const flying = await inFlight(d.db);
    expect(flying).toBeGreaterThanOrEqual(100);
    await d.stopProcess(victim, 'SIGKILL');
    const killedAt = Date.now();
    log(
      `kill -9: killed worker ${victim.pid} with ${running} running jobs, ${flying} runs in flight`,
    );

    await until(
      'the lost jobs to be retried',
      async () => (await jobsIn(d.db, 'running')) === 0 || null,
      60_000,
    ).catch(() => undefined);
    const { delivery, spans, settledMs } = await expectNothingLost(ctx, ids, 150_000);
    const lost = delivery.messages.filter(
      (m) => m.body.type === 'job-retrying' && /^worker_lost/.test(m.body.job.statusReason ?? ''),
    );
    const lostKeys = new Set(
      lost.map((m) => `${m.body.runId}/${m.body.job.name}/${m.body.job.index}`),
    );
    // Every job the victim was running is retried with the reason, once.
    expect(lostKeys.size).toBeGreaterThanOrEqual(running);
    expect(lost.length).toBe(lostKeys.size);
    // Their processes outlived the worker until the recovery stopped them (no end recorded), before the retry began.
    expect(spans.unfinished.length).toBeGreaterThan(0);
    expect(
      spans.unfinished.filter(
        (u) => !lostKeys.has(u.replace(/^(\d+) (\w+)\[(\d+)\] attempt 1$/, '$1/$2/$3')),
      ),
    ).toEqual([]);
    log(
      `kill -9: all complete ${Math.round((Date.now() - killedAt) / 1000)} s after the kill (settled ${settledMs} ms after the check began); ` +
        `${lost.length} attempts retried as worker_lost; ${delivery.events} events, ${delivery.received} delivered; ${spans.attempts} spantool attempts`,
    );
  });
}, 240_000);

test('API and workers restarted during a burst: every run completes and every event arrives', async () => {
  await withDeployment({ workers: 2, env: { WFS_WORKER_CONCURRENCY: '20' } }, async (ctx) => {
    const { d } = ctx;
    const t0 = Date.now();
    // The burst: runs keep coming while the processes restart; calls that fail are tried again.
    const burst = createRuns(
      d,
      160,
      't_fault',
      { seconds: 3, after: 0.2, spanLog: ctx.spanLog },
      { parallel: 4, patient: true },
    );
    await until('a load in flight', async () => (await inFlight(d.db)) >= 40, 60_000);
    // The workers first (a graceful stop: the jobs in hand finish and are recorded) ...
    const w0 = Date.now();
    await Promise.all([...d.workers].map((w) => d.stopProcess(w, 'SIGTERM')));
    log(`restart: both workers stopped in ${Date.now() - w0} ms, ${w0 - t0} ms into the burst`);
    // ... and while they are away the load only grows.
    await until('100 runs in flight', async () => (await inFlight(d.db)) >= 100, 60_000);
    const flying = await inFlight(d.db);
    const a0 = Date.now();
    await d.stopProcess(d.api!, 'SIGTERM');
    const a1 = Date.now();
    await d.startApi();
    log(
      `restart: ${flying} runs in flight; API stopped in ${a1 - a0} ms, serving again ${Date.now() - a1} ms later`,
    );
    await d.startWorker();
    await d.startWorker();
    log(`restart: workers back ${Date.now() - w0} ms after they stopped`);
    const ids = await burst;
    log(`restart: burst of ${ids.length} runs created in ${Date.now() - t0} ms`);
    const { delivery, settledMs } = await expectNothingLost(ctx, ids, 150_000);
    log(
      `restart: all complete ${settledMs} ms after the burst ended; ${delivery.events} events, ${delivery.received} delivered`,
    );
  });
}, 240_000);
