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
  startBurst,
  until,
  TOKENS,
  withDeployment,
} from '@wfs/testing';

const log = (m: string) => process.stdout.write(`[faults] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('kill -9 a worker mid-job: its jobs are retried on another worker and every run completes', async () => {
  await withDeployment({ workers: 2, env: { WFS_WORKER_CONCURRENCY: '60' } }, async (ctx) => {
    const { d } = ctx;
    const t0 = Date.now();
    // Held at the gate: the victim's job processes are still running when the recovery finds
    // them orphaned, so they must be stopped before their jobs are tried again.
    const ids = await createRuns(d, 120, 't_fault', {
      seconds: 2,
      after: 0.5,
      spanLog: ctx.spanLog,
      gate: ctx.gate,
    });
    log(`kill -9: 120 runs created in ${Date.now() - t0} ms`);
    const victim = d.workers[0]!;
    const victimJobs = async () =>
      (
        await d.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM jobs WHERE state = 'running' AND worker_id LIKE $1`,
          [`%:${victim.pid}:%`],
        )
      )[0]!.n;
    // Mid-job: the victim holds many running spantool processes.
    const running = await until(
      'the victim to run jobs',
      async () => ((await victimJobs()) >= 40 ? victimJobs() : null),
      30_000,
    );
    const flying = await inFlight(d.db);
    expect(flying).toBeGreaterThanOrEqual(100);
    await d.stopProcess(victim, 'SIGKILL');
    const killedAt = Date.now();
    log(
      `kill -9: killed worker ${victim.pid} with ${running} running jobs, ${flying} runs in flight`,
    );
    await until('the lost jobs to be retried', async () => (await victimJobs()) === 0, 60_000);
    log(`kill -9: the dead worker's jobs were put back ${Date.now() - killedAt} ms after the kill`);
    ctx.openGate();

    const { delivery, spans, settledMs } = await expectNothingLost(ctx, ids, 150_000);
    const lost = delivery.messages.filter(
      (m) => m.body.type === 'job-retrying' && /^worker_lost/.test(m.body.job.statusReason ?? ''),
    );
    const lostKeys = new Set(
      lost.map((m) => `${m.body.runId} ${m.body.job.name}[${m.body.job.index}]`),
    );
    // Every job the victim was running is retried with the reason, once.
    expect(lostKeys.size).toBeGreaterThanOrEqual(running);
    expect(lost.length).toBe(lostKeys.size);
    // Their processes outlived the worker until the recovery stopped them (no end recorded), before
    // the retry began (spantool checks that at start); the only attempts that never ended.
    expect(spans.unfinished.length).toBeGreaterThan(0);
    expect(spans.unfinished.filter((u) => !lostKeys.has(u.replace(/ attempt 1$/, '')))).toEqual([]);
    log(
      `kill -9: all complete ${Math.round((Date.now() - killedAt) / 1000)} s after the kill (settled ${settledMs} ms after the gate opened); ` +
        `${lost.length} attempts retried as worker_lost, ${spans.unfinished.length} orphaned processes stopped; ` +
        `${delivery.events} events, ${delivery.received} delivered`,
    );
  });
}, 240_000);

/** An SSE client of a run's events: reads until the server ends the stream. */
function watchRun(url: string, runId: number, lastEventId: number) {
  const events: Array<{ sequence: number; type: string }> = [];
  const ended = (async () => {
    const res = await fetch(`${url}/api/v1/runs/${runId}/events/stream`, {
      headers: { authorization: `Bearer ${TOKENS.viewer}`, 'last-event-id': String(lastEventId) },
    });
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const data = buffer
          .slice(0, cut)
          .split('\n')
          .find((l) => l.startsWith('data: '));
        buffer = buffer.slice(cut + 2);
        if (data) events.push(JSON.parse(data.slice(6)));
      }
    }
  })().catch(() => undefined);
  return { events, ended };
}

test('API and workers restarted during a burst: every run completes and every event arrives', async () => {
  await withDeployment({ workers: 2, env: { WFS_WORKER_CONCURRENCY: '20' } }, async (ctx) => {
    const { d } = ctx;
    const t0 = Date.now();
    // The burst goes on through the restarts: calls that fail are tried again.
    const burst = startBurst(
      d,
      't_fault',
      { seconds: 1, after: 0.2, spanLog: ctx.spanLog },
      { parallel: 2 },
    );
    await until('jobs running', async () => (await jobsIn(d.db, 'running')) >= 10, 60_000);
    // The workers first, mid-job (a graceful stop: the jobs in hand finish and are recorded) ...
    const w0 = Date.now();
    await Promise.all([...d.workers].map((w) => d.stopProcess(w, 'SIGTERM')));
    log(`restart: both workers stopped in ${Date.now() - w0} ms, ${w0 - t0} ms into the burst`);
    // ... and while they are away the load only grows.
    await until('100 runs in flight', async () => (await inFlight(d.db)) >= 100, 60_000);
    const flying = await inFlight(d.db);
    // Someone watches a run that is not finished across the API's restart.
    const [{ id: watched }] = (await d.db.query<{ id: string }>(
      `SELECT id FROM runs WHERE state = 'submitted' ORDER BY id LIMIT 1`,
    )) as [{ id: string }];
    const before = watchRun(d.url, Number(watched), 0);
    await until('the stream to start', () => before.events.length > 0, 10_000);
    // A graceful stop under load: the calls under way finish, the stream ends, the process exits.
    const a0 = Date.now();
    await d.stopProcess(d.api!, 'SIGTERM');
    const a1 = Date.now();
    expect(a1 - a0).toBeLessThan(15_000);
    await before.ended;
    await d.startApi();
    log(
      `restart: ${flying} runs in flight; API stopped in ${a1 - a0} ms, serving again ${Date.now() - a1} ms later`,
    );
    // The watcher resumes after the last event it saw and reads to the end of the run.
    const after = watchRun(d.url, Number(watched), before.events.at(-1)!.sequence);
    await Promise.all([d.startWorker(), d.startWorker()]);
    log(`restart: workers back ${Date.now() - w0} ms after they stopped`);
    await sleep(2000);
    const ids = await burst.stop();
    log(`restart: burst of ${ids.length} runs over ${Date.now() - t0} ms`);
    const { delivery, settledMs } = await expectNothingLost(ctx, ids, 150_000);
    await after.ended;
    const seen = [...before.events, ...after.events];
    expect(seen.map((e) => e.sequence)).toEqual(seen.map((_, i) => i + 1));
    expect(seen.at(-1)!.type).toBe('complete');
    log(
      `restart: all complete ${settledMs} ms after the burst ended; ${delivery.events} events, ${delivery.received} delivered; ` +
        `the watched run streamed ${before.events.length} + ${after.events.length} events across the restart`,
    );
  });
}, 240_000);
