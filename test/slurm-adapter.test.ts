/**
 * The Slurm adapter (libs/execution/src/batch/slurm.ts) on a real one-node
 * Slurm of the test's own (test/support/slurm.ts).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BatchSpec, BatchStatus } from '../libs/execution/src/batch/batch-system';
import { SlurmBatch } from '../libs/execution/src/batch/slurm';
import { SlurmCluster, startSlurm } from './support/slurm';

jest.setTimeout(150_000);

let cluster: SlurmCluster;
let slurm: SlurmBatch;
let root: string;
let seq = 0;

beforeAll(async () => {
  cluster = await startSlurm();
  slurm = new SlurmBatch({
    bin: null,
    partition: null,
    account: null,
    extra: [],
    env: cluster.env,
  });
  root = path.join(cluster.dir, 'runs');
  fs.mkdirSync(root);
});
afterAll(async () => {
  await cluster?.stop();
});

function specFor(job: string, script: string, over: Partial<BatchSpec> = {}): BatchSpec {
  const n = ++seq;
  const dir = path.join(root, `${job}-${n}`);
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  return {
    name: `wfs-1-${job}-${n}`,
    runId: 1,
    job,
    index: n,
    attempt: 1,
    executable: process.execPath,
    args: ['-e', script],
    env: { WFS_JOB: job },
    cwd: dir,
    stdoutPath: path.join(logs, 'out'),
    stderrPath: path.join(logs, 'err'),
    workDir: logs,
    cpus: 1,
    memoryMb: 64,
    gpus: 0,
    labels: [],
    timeoutSeconds: 120,
    ...over,
  };
}

/** Polls status until `done` says so; returns every state seen, in order (repeats folded). */
async function watch(
  id: string,
  spec: BatchSpec,
  done: (s: BatchStatus) => boolean,
  timeoutMs = 30_000,
): Promise<BatchStatus[]> {
  const seen: BatchStatus[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = (await slurm.status([{ id, spec }])).get(id)!;
    if (JSON.stringify(seen[seen.length - 1]) !== JSON.stringify(s)) seen.push(s);
    if (done(s)) return seen;
    if (Date.now() > deadline)
      throw new Error(
        `job ${id}: still ${JSON.stringify(s)} after ${timeoutMs} ms; seen ${JSON.stringify(seen)}\n${cluster.logTail(10)}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
const ended = (s: BatchStatus) => s.state === 'ended' || s.state === 'unknown';
const running = (s: BatchStatus) => s.state === 'running';
const scancel = (id: string) =>
  execFileSync('scancel', [id], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...cluster.env },
  });

it('runs a job with exactly its env and args, in its cwd, appending to its logs; pending/running, then exited 0', async () => {
  const nasty = ["it's", 'two words', '$(touch pwned)', 'a\nb', '"', '\\', ''];
  const s = specFor(
    'envargs',
    `require('fs').writeFileSync('seen.json', JSON.stringify({ env: process.env, args: process.argv.slice(1), cwd: process.cwd() }));
     console.log('to stdout'); console.error('to stderr');`,
    { env: { WFS_JOB: 'envargs', QUOTED: "it's $(x) `y`", MULTI: 'l1\nl2' } },
  );
  s.args.push(...nasty);
  fs.writeFileSync(s.stdoutPath, 'before\n');
  const t0 = Date.now();
  const id = await slurm.submit(s);
  expect(id).toMatch(/^\d+$/);
  const script = path.join(s.workDir, `envargs.${s.index}.a1.sbatch`);
  expect(fs.statSync(script).mode & 0o777).toBe(0o700);
  const seen = await watch(id, s, ended);
  console.log(`sbatch to ended: ${Date.now() - t0} ms; seen ${JSON.stringify(seen)}`);
  expect(['pending', 'running']).toContain(seen[0].state);
  expect(seen[seen.length - 1]).toEqual({
    state: 'ended',
    end: { kind: 'exited', exitCode: 0, signal: null },
  });
  const got = JSON.parse(fs.readFileSync(path.join(s.cwd, 'seen.json'), 'utf8'));
  expect(got.env).toEqual(s.env);
  expect(got.args).toEqual(nasty);
  expect(got.cwd).toBe(s.cwd);
  expect(fs.existsSync(path.join(s.cwd, 'pwned'))).toBe(false);
  expect(fs.readFileSync(s.stdoutPath, 'utf8')).toBe('before\nto stdout\n');
  expect(fs.readFileSync(s.stderrPath, 'utf8')).toBe('to stderr\n');
});

it('a job exiting 3 is exited 3; one killed by a signal says which', async () => {
  const s3 = specFor('exit3', 'process.exit(3)');
  const s9 = specFor('kill9', "process.kill(process.pid, 'SIGKILL')");
  const [id3, id9] = await Promise.all([slurm.submit(s3), slurm.submit(s9)]);
  await watch(id3, s3, ended);
  await watch(id9, s9, ended);
  const both = await slurm.status([
    { id: id3, spec: s3 },
    { id: id9, spec: s9 },
  ]);
  expect(both.get(id3)).toEqual({
    state: 'ended',
    end: { kind: 'exited', exitCode: 3, signal: null },
  });
  expect(both.get(id9)).toEqual({
    state: 'ended',
    end: { kind: 'exited', exitCode: null, signal: 'SIGKILL' },
  });
});

it('find() finds a job by name and attempt; scancel by someone else is removed; cancel of a gone job is fine', async () => {
  const s = specFor('sleeper', 'setTimeout(() => {}, 300_000)', { attempt: 2 });
  const id = await slurm.submit(s);
  expect(await slurm.find(s)).toBe(id);
  expect(await slurm.find({ ...s, attempt: 1 })).toBeNull();
  expect(await slurm.find({ ...s, name: 'wfs-1-never-0' })).toBeNull();
  await watch(id, s, running);
  scancel(id);
  const seen = await watch(id, s, ended);
  expect(seen[seen.length - 1]).toMatchObject({ state: 'ended', end: { kind: 'removed' } });
  await expect(slurm.cancel(id)).resolves.toBeUndefined();
  await expect(slurm.cancel('987654')).resolves.toBeUndefined();
});

it('cancel() removes a running job', async () => {
  const s = specFor('cancelled', 'setTimeout(() => {}, 300_000)');
  const id = await slurm.submit(s);
  await watch(id, s, running);
  await slurm.cancel(id);
  const seen = await watch(id, s, ended);
  expect(seen[seen.length - 1]).toMatchObject({ state: 'ended', end: { kind: 'removed' } });
});

it('an id Slurm never had is unknown, alone or beside known ones', async () => {
  const s = specFor('known', 'process.exit(0)');
  const id = await slurm.submit(s);
  expect((await slurm.status([{ id: '987654', spec: s }])).get('987654')).toEqual({
    state: 'unknown',
  });
  const both = await slurm.status([
    { id, spec: s },
    { id: '987655', spec: s },
  ]);
  expect(both.get('987655')).toEqual({ state: 'unknown' });
  expect(both.get(id)?.state).not.toBe('unknown');
});

it('a job whose node fails (slurmd killed) is lost; the node comes back when slurmd does', async () => {
  const s = specFor('nodefail', 'setTimeout(() => {}, 300_000)');
  const id = await slurm.submit(s);
  await watch(id, s, running);
  const t0 = Date.now();
  await cluster.killSlurmd();
  try {
    const seen = await watch(id, s, ended, 90_000);
    console.log(`slurmd killed to NODE_FAIL: ${Date.now() - t0} ms; seen ${JSON.stringify(seen)}`);
    expect(seen[seen.length - 1]).toMatchObject({ state: 'ended', end: { kind: 'lost' } });
    expect((seen[seen.length - 1] as { end: { message: string } }).end.message).toMatch(
      /NODE_FAIL/,
    );
  } finally {
    await cluster.startSlurmd();
  }
  const after = specFor('afterfail', 'process.exit(0)');
  const id2 = await slurm.submit(after);
  const seen2 = await watch(id2, after, ended);
  expect(seen2[seen2.length - 1]).toEqual({
    state: 'ended',
    end: { kind: 'exited', exitCode: 0, signal: null },
  });
});
