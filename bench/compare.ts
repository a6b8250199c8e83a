/**
 * The same DAG (a -> b -> c, no-op jobs) done by what a user could pick
 * instead of wfs: raw BullMQ flows, and a Postgres queue (pg-boss). Neither
 * keeps a run record, events or an outbox: they show the dispatch medium's
 * own limit for this shape, not a like-for-like service.
 */
import { FlowProducer, Worker } from 'bullmq';
import IORedis from 'ioredis';
import PgBoss from 'pg-boss';
import { delKeys, now, pool, REDIS_URL, round, sleep } from './support';

/** BullMQ FlowProducer: c has child b has child a (children finish first), N flows added `concurrency` at a time. */
export async function bullmqFlows(
  n: number,
  concurrency: number,
): Promise<{ runsPerSec: number; ok: boolean; order: boolean }> {
  const prefix = `wfsbench-flow-${Date.now().toString(36)}`;
  const flow = new FlowProducer({
    connection: new IORedis(REDIS_URL, { maxRetriesPerRequest: null }),
    prefix,
  });
  const steps = new Map<number, string>();
  let done = 0;
  let order = true;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  const worker = new Worker(
    'noop3',
    async (job) => {
      const run = job.data.run as number;
      const prev = steps.get(run) ?? '';
      if ({ a: '', b: 'a', c: 'b' }[job.name as 'a' | 'b' | 'c'] !== prev) order = false;
      steps.set(run, job.name);
      if (job.name === 'c' && ++done === n) finish();
    },
    { connection: new IORedis(REDIS_URL, { maxRetriesPerRequest: null }), prefix, concurrency: 16 },
  );
  await worker.waitUntilReady();
  const t0 = now();
  await pool(n, concurrency, (run) =>
    flow.add({
      name: 'c',
      queueName: 'noop3',
      data: { run },
      children: [
        {
          name: 'b',
          queueName: 'noop3',
          data: { run },
          children: [{ name: 'a', queueName: 'noop3', data: { run } }],
        },
      ],
    }),
  );
  await Promise.race([all, sleep(300_000)]);
  const elapsed = now() - t0;
  await worker.close();
  await flow.close();
  await delKeys(prefix);
  return { runsPerSec: round(n / (elapsed / 1000)), ok: done === n, order };
}

/**
 * pg-boss (Postgres queue): one queue, a job per step; the handler of step k
 * sends step k+1 and wakes the local workers (as a NOTIFY would), so the
 * chain is not bound by the 0.5 s polling floor alone.
 */
export async function pgBossChain(
  databaseUrl: string,
  n: number,
  concurrency: number,
): Promise<{ runsPerSec: number; ok: boolean; order: boolean }> {
  const boss = new PgBoss({
    connectionString: databaseUrl,
    schema: 'pgboss_bench',
    max: 10,
    supervise: false,
    schedule: false,
  } as any);
  boss.on('error', () => undefined);
  await boss.start();
  await boss.createQueue('noop3');
  const steps = new Map<number, number>();
  let done = 0;
  let order = true;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  const ids: string[] = [];
  const wake = () => ids.forEach((id) => boss.notifyWorker(id));
  for (let w = 0; w < 4; w++) {
    ids.push(
      await boss.work<{ run: number; step: number }>(
        'noop3',
        { batchSize: 8, pollingIntervalSeconds: 0.5 },
        async (jobs) => {
          for (const job of jobs) {
            const { run, step } = job.data;
            if ((steps.get(run) ?? 0) !== step - 1) order = false;
            steps.set(run, step);
            if (step < 3) await boss.send('noop3', { run, step: step + 1 });
            else if (++done === n) finish();
          }
          wake();
        },
      ),
    );
  }
  const t0 = now();
  await pool(n, concurrency, async (run) => {
    await boss.send('noop3', { run, step: 1 });
    wake();
  });
  await Promise.race([all, sleep(300_000)]);
  const elapsed = now() - t0;
  await Promise.race([boss.stop({ graceful: false, wait: true } as any), sleep(10_000)]);
  return { runsPerSec: round(n / (elapsed / 1000)), ok: done === n, order };
}
