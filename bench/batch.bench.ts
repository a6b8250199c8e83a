/**
 * batch (QUALITY v1.1): 200 one-second jobs through the Slurm executor on the
 * test setup's one-node Slurm (test/support/slurm.ts), against a raw
 * `sbatch --wait` loop doing the same in the same run, on the same cluster.
 * Both keep the same number of jobs in flight (CONCURRENCY clients, each
 * submitting the next when its last ended), so neither waits on the
 * cluster's own queue more than the other. Per job, overhead = submit to
 * end minus the job's own second: for wfs a run's POST to its terminal AMQP
 * message (one bench_batch1 run per job), for the raw loop the `sbatch
 * --wait` call's own duration. Every run must complete, with its events
 * gapless and none lost.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { SlurmCluster, startSlurm } from '../test/support/slurm';
import {
  Bench,
  call,
  checkEvents,
  eventsRow,
  now,
  pool,
  round,
  Row,
  scaled,
  startBench,
  summarize,
  writeResult,
} from './support';

const run = promisify(execFile);
const JOBS = scaled(200, 20);
const CONCURRENCY = 8;
const JOB_SECONDS = 1;
const BAR = 1.5;

let slurm: SlurmCluster;
let b: Bench;
let scratch: string;

beforeAll(async () => {
  slurm = await startSlurm({ size: { cpus: 16, memoryMb: 65536 } });
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-bench-batch-'));
  b = await startBench({
    workflows: ['bench_batch1.yaml'],
    workers: [{ env: { WFS_EXECUTOR: 'slurm', WFS_WORKER_CONCURRENCY: '1000', ...slurm.env } }],
  });
}, 300_000);

afterAll(async () => {
  await b?.stop();
  await slurm?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
}, 120_000);

/** One raw job: `sbatch --wait` of a script that sleeps a second; its duration, in ms. */
async function rawJob(i: number): Promise<number> {
  const script = path.join(scratch, `raw-${i}.sh`);
  fs.writeFileSync(script, `#!/bin/sh\nexec /bin/sleep ${JOB_SECONDS}\n`, { mode: 0o755 });
  const t0 = now();
  await run(
    'sbatch',
    [
      '--wait',
      '--parsable',
      `--job-name=raw-${i}`,
      '--cpus-per-task=1',
      '--mem=64M',
      `--output=${path.join(scratch, `raw-${i}.out`)}`,
      `--chdir=${scratch}`,
      script,
    ],
    { env: { ...process.env, ...slurm.env } },
  );
  return now() - t0;
}

/**
 * The floor Slurm itself sets: sbatch, then `scontrol show job` every 100 ms
 * until it ended (not a bar, a reading of where the time goes).
 */
async function floorJob(i: number): Promise<number> {
  const script = path.join(scratch, `floor-${i}.sh`);
  fs.writeFileSync(script, `#!/bin/sh\nexec /bin/sleep ${JOB_SECONDS}\n`, { mode: 0o755 });
  const env = { ...process.env, ...slurm.env };
  const t0 = now();
  const { stdout } = await run(
    'sbatch',
    [
      '--parsable',
      `--job-name=floor-${i}`,
      '--cpus-per-task=1',
      '--mem=64M',
      `--output=${path.join(scratch, `floor-${i}.out`)}`,
      `--chdir=${scratch}`,
      script,
    ],
    { env },
  );
  const id = stdout.trim().split(';')[0] as string;
  for (;;) {
    const { stdout: line } = await run('scontrol', ['-o', 'show', 'job', id], { env });
    if (/JobState=(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL)/.test(line)) return now() - t0;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One wfs job: a bench_batch1 run's POST to its terminal message, in ms. */
async function wfsJob(): Promise<{ id: number; ms: number }> {
  const t0 = now();
  const res = await call(b.d.url, 'POST', '/api/v1/workflows/bench_batch1/runs', {
    submit: true,
  });
  if (res.status !== 201) throw new Error(`POST: ${res.status} ${JSON.stringify(res.body)}`);
  const id = res.body.id as number;
  const at = await b.consumer.waitTerminal([id], 600_000);
  return { id, ms: at - t0 };
}

test('batch: wfs through Slurm against raw sbatch --wait', async () => {
  const raw = await pool(JOBS, CONCURRENCY, rawJob);
  const floor = await pool(JOBS, CONCURRENCY, floorJob);
  const tWfs = now();
  const done = await pool(JOBS, CONCURRENCY, () => wfsJob());
  const wfsMakespan = now() - tWfs;
  const ids = new Set(done.map((d) => d.id));
  const check = checkEvents(b.consumer.messages, ids);
  const overhead = (ms: number[]) => summarize(ms.map((x) => x - JOB_SECONDS * 1000));
  const rawO = overhead(raw);
  const wfsO = overhead(done.map((d) => d.ms));
  const floorO = overhead(floor);
  const ratio = wfsO.mean / rawO.mean;
  const rows: Row[] = [
    {
      bench: 'batch',
      figure: `overhead per job, mean (${JOBS} x ${JOB_SECONDS} s, ${CONCURRENCY} in flight)`,
      value: `${round(wfsO.mean)} ms`,
      baseline: `${round(rawO.mean)} ms raw sbatch --wait`,
      ratio: String(round(ratio, 2)),
      bar: `<= ${BAR}`,
      pass: ratio <= BAR,
    },
    {
      bench: 'batch',
      figure: 'overhead per job, p50 / p99',
      value: `${round(wfsO.p50)} / ${round(wfsO.p99)} ms`,
      baseline: `${round(rawO.p50)} / ${round(rawO.p99)} ms`,
      ratio: '-',
      bar: '-',
      pass: null,
    },
    {
      bench: 'batch',
      figure: "Slurm's own floor (sbatch, scontrol every 100 ms), mean",
      value: `${round(wfsO.mean)} ms wfs`,
      baseline: `${round(floorO.mean)} ms`,
      ratio: String(round(wfsO.mean / floorO.mean, 2)),
      bar: '-',
      pass: null,
    },
    {
      bench: 'batch',
      figure: 'jobs/s through wfs',
      value: String(round(JOBS / (wfsMakespan / 1000), 2)),
      baseline: '-',
      ratio: '-',
      bar: '-',
      pass: null,
    },
    eventsRow('batch', check, 'every run complete, none lost'),
  ];
  writeResult(
    'batch',
    { raw: rawO, floor: floorO, wfs: wfsO, check, jobs: JOBS, concurrency: CONCURRENCY },
    rows,
  );
  expect(check.ok).toBe(true);
}, 1_800_000);
