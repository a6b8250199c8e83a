/**
 * The Slurm executor on a real Slurm (WORKFLOWS v1.1 "Batch executors";
 * QUALITY v1.1 faults): a one-node cluster of the test's own (munged,
 * slurmctld, slurmd started here, test/support/slurm.ts), a wfs of real
 * processes whose worker is a submit host (WFS_EXECUTOR=slurm). Every sbatch
 * the worker runs goes through a wrapper that counts it, so "submitted once"
 * is counted, not assumed. What a job did is read back from Slurm itself.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Deployment, ServiceProcess, startDeployment, TOKENS } from '@wfs/testing';
import { SlurmCluster, startSlurm } from './support/slurm';

const REPO = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures', 'workflows');

let slurm: SlurmCluster;
let d: Deployment;
let worker: ServiceProcess;
let workflowsDir: string;
let binDir: string;
let sbatchLog: string;

/** A directory of Slurm's tools where sbatch writes a line per call before it runs the real one. */
function countingBin(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-slurm-bin-'));
  for (const tool of ['squeue', 'scontrol', 'sacct', 'scancel']) {
    const real = execFileSync('sh', ['-c', `command -v ${tool}`])
      .toString()
      .trim();
    fs.symlinkSync(real, path.join(dir, tool));
  }
  const sbatch = execFileSync('sh', ['-c', 'command -v sbatch']).toString().trim();
  fs.writeFileSync(
    path.join(dir, 'sbatch'),
    `#!/bin/sh\necho "$$ $*" >> '${sbatchLog}'\nexec '${sbatch}' "$@"\n`,
    { mode: 0o755 },
  );
  return dir;
}

/**
 * Files under dir holding secret. slurmctld rewrites its state files as it
 * goes (job_state.new renamed over job_state): one that vanishes while read
 * is passed over, not an error.
 */
function filesHolding(dir: string, secret: Buffer): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile())
        try {
          if (fs.readFileSync(p).includes(secret)) found.push(p);
        } catch {
          /* renamed away meanwhile */
        }
    }
  };
  walk(dir);
  return found;
}

const sbatchCalls = () =>
  fs.existsSync(sbatchLog) ? fs.readFileSync(sbatchLog, 'utf8').split('\n').filter(Boolean) : [];

function slurmTool(tool: string, args: string[]): string {
  return execFileSync(tool, args, { env: { ...process.env, ...slurm.env } }).toString();
}

/** What slurmctld (or the jobcomp record) says of a Slurm job: its state word. */
function slurmState(id: string): string {
  const line = slurmTool('scontrol', ['-o', 'show', 'job', id]).trim();
  return /JobState=(\S+)/.exec(line)?.[1] ?? '?';
}

/** The Slurm jobs still pending or running (squeue). */
function queued(): string[] {
  return slurmTool('squeue', ['-h', '-o', '%i']).split('\n').filter(Boolean);
}

const startSlurmWorker = () =>
  d.startWorker({
    env: {
      WFS_EXECUTOR: 'slurm',
      WFS_SLURM_BIN: binDir,
      WFS_WORKER_CONCURRENCY: '200',
      ...slurm.env,
    },
    label: 'slurm',
  });

beforeAll(async () => {
  slurm = await startSlurm({ size: { cpus: 16, memoryMb: 65536 } });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-slurm-test-'));
  sbatchLog = path.join(scratch, 'sbatch.log');
  binDir = countingBin();
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-slurm-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  for (const f of ['t_batch', 't_batch_timeout'])
    fs.copyFileSync(path.join(FIXTURES, `${f}.yaml`), path.join(workflowsDir, `${f}.yaml`));
  d = await startDeployment({ workers: 0, env: { WFS_WORKFLOWS_DIR: workflowsDir } });
  worker = await startSlurmWorker();
}, 180_000);

afterAll(async () => {
  await d?.stop();
  await slurm?.stop();
  for (const dir of [workflowsDir, binDir, sbatchLog && path.dirname(sbatchLog)])
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

// ---------------------------------------------------------------- helpers

/** Polls until fn gives a value; the error says what did not happen (and the services' last lines). */
async function until<T>(
  fn: () => Promise<T | null | false> | T | null | false,
  timeoutMs = 30_000,
  what: () => string = () => 'the condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function submit(workflow: string, body: Record<string, unknown>): Promise<any> {
  const res = await d.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    role: 'da',
    body: { submit: true, ...body },
  });
  if (res.status !== 201) throw new Error(`create ${workflow}: ${res.status} ${res.text}`);
  return res.body;
}

async function runOf(id: number): Promise<any> {
  return (await d.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' })).body;
}

async function waitForRun(id: number, states: string[], timeoutMs = 120_000): Promise<any> {
  return until(
    async () => {
      const r = await runOf(id);
      return states.includes(r.state) ? r : null;
    },
    timeoutMs,
    () => `run ${id} not ${states.join('/')}\n${d.logTail(40)}`,
  );
}

async function allJobs(id: number): Promise<any[]> {
  const res = await d.call('GET', `/api/v1/runs/${id}/jobs?limit=1000`, { role: 'viewer' });
  return res.body.items;
}

async function allEvents(id: number): Promise<any[]> {
  const res = await d.call('GET', `/api/v1/runs/${id}/events?limit=1000`, { role: 'viewer' });
  return res.body.items;
}

/** Waits until the instance runs in Slurm (its id recorded) and returns that id. */
async function clusterIdOf(id: number, name: string, index = 0): Promise<string> {
  return until(
    async () => {
      const j = (await allJobs(id)).find((x) => x.name === name && x.index === index);
      const cid = j?.executor?.clusterJobId;
      return cid && slurmState(cid) === 'RUNNING' ? (cid as string) : null;
    },
    60_000,
    () => `job ${name}[${index}] of run ${id} never ran in Slurm\n${d.logTail(40)}`,
  );
}

// ---------------------------------------------------------------- tests

describe('the Slurm executor', () => {
  test('std_calibration completes through Slurm with every event; each process job was one Slurm job', async () => {
    const before = sbatchCalls().length;
    const created = await submit('std_calibration', { subject: `19A-${Date.now()}.sb1.eb1` });
    const run = await waitForRun(created.id, ['complete', 'failed']);
    expect(run.error).toBeNull();
    expect(run.state).toBe('complete');
    const jobs = await allJobs(created.id);
    const batch = jobs.filter((j) => j.executor?.kind === 'slurm');
    // fetch and casa are tools: they went to Slurm; deliver_to_qa stays on the submit host.
    expect(batch.map((j) => j.name)).toEqual(expect.arrayContaining(['fetch', 'casa']));
    for (const j of batch) {
      expect(j.executor.clusterJobId).toMatch(/^\d+$/);
      expect(slurmState(j.executor.clusterJobId)).toBe('COMPLETED');
    }
    expect(sbatchCalls().length - before).toBe(batch.length);
    const events = await allEvents(created.id);
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    for (const j of jobs) {
      const mine = events.filter((e) => e.job?.name === j.name).map((e) => e.type);
      expect(mine).toEqual(['job-started', 'job-completed']);
    }
    const last = events[events.length - 1];
    expect(last.type).toBe('complete');
    const casaCompleted = events.find((e) => e.type === 'job-completed' && e.job.name === 'casa');
    expect(casaCompleted.job.executor).toMatchObject({ kind: 'slurm', clusterJobId: /^\d+$/ });
  }, 180_000);

  test('a 200-instance radps_skeleton completes through Slurm, each instance submitted once', async () => {
    const before = sbatchCalls().length;
    const created = await submit('radps_skeleton', {
      parameters: { nField: 1, nSpw: 3, nScan: 28, workSeconds: 0 },
    });
    const run = await waitForRun(created.id, ['complete', 'failed'], 300_000);
    expect(run.state).toBe('complete');
    const jobs = await allJobs(created.id);
    expect(jobs.length).toBeGreaterThanOrEqual(200);
    const ids = jobs.map((j) => j.executor?.clusterJobId);
    expect(ids.every((x) => typeof x === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(jobs.length);
    expect(jobs.every((j) => j.attempts === 1)).toBe(true);
    expect(sbatchCalls().length - before).toBe(jobs.length);
  }, 320_000);

  test('a job over its time limit fails with timeout, and leaves nothing in squeue', async () => {
    const created = await submit('t_batch_timeout', {});
    const run = await waitForRun(created.id, ['complete', 'failed']);
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('timeout');
    const [slow] = await allJobs(created.id);
    expect(slow.statusReason).toMatch(/^timeout/);
    await until(() => !queued().includes(slow.executor.clusterJobId), 30_000);
  }, 120_000);

  test('cancel removes its Slurm jobs: nothing left in squeue', async () => {
    const created = await submit('t_batch', { parameters: { n: 2, seconds: 300 } });
    const ids = [
      await clusterIdOf(created.id, 'work', 0),
      await clusterIdOf(created.id, 'work', 1),
    ];
    // What slurmctld keeps of a running job (its script, its environment) holds none of the
    // service's secrets: sbatch runs with a small environment, the job with its own only.
    const kept = path.join(slurm.dir, 'state');
    expect(fs.readdirSync(kept).some((f) => f.startsWith('hash.'))).toBe(true);
    for (const token of Object.values(TOKENS))
      expect(filesHolding(kept, Buffer.from(token))).toEqual([]);
    const res = await d.call('POST', `/api/v1/runs/${created.id}/cancel`, { role: 'da' });
    expect(res.status).toBeLessThan(300);
    await waitForRun(created.id, ['cancelled']);
    await until(() => ids.every((id) => !queued().includes(id)), 30_000);
    expect(ids.map(slurmState)).toEqual(['CANCELLED', 'CANCELLED']);
  }, 120_000);

  test('a job cancelled from outside (scancel) is removed_externally, and not tried again', async () => {
    const created = await submit('t_batch', { parameters: { n: 1, seconds: 300 } });
    const id = await clusterIdOf(created.id, 'work');
    slurmTool('scancel', [id]);
    const run = await waitForRun(created.id, ['failed']);
    expect(run.error.code).toBe('removed_externally');
    const [work] = await allJobs(created.id);
    expect(work).toMatchObject({ state: 'failed', attempts: 1 });
    expect(work.statusReason).toMatch(/^removed_externally/);
  }, 120_000);

  test('the worker killed and restarted while Slurm jobs run re-attaches: none submitted twice', async () => {
    const before = sbatchCalls().length;
    const created = await submit('t_batch', { parameters: { n: 3, seconds: 8 } });
    const ids = await Promise.all([0, 1, 2].map((i) => clusterIdOf(created.id, 'work', i)));
    await d.stopProcess(worker, 'SIGKILL');
    worker = await startSlurmWorker();
    const run = await waitForRun(created.id, ['complete', 'failed']);
    expect(run.state).toBe('complete');
    const jobs = (await allJobs(created.id)).filter((j) => j.name === 'work');
    expect(jobs.map((j) => [j.attempts, j.executor.clusterJobId])).toEqual(
      ids.map((id) => [1, id]),
    );
    expect(sbatchCalls().length - before).toBe(3);
    expect(d.logTail(400)).toMatch(/adopted from worker/);
  }, 180_000);

  test('slurmd killed mid-job: NODE_FAIL, the job is tried again (worker_lost) once the node is back', async () => {
    // Long enough that Slurm declares the node failed (SlurmdTimeout 10 s: ~30 s) before it ends.
    const created = await submit('t_batch', { parameters: { n: 1, seconds: 150 } });
    const first = await clusterIdOf(created.id, 'work');
    await slurm.killSlurmd();
    let retried: any;
    try {
      retried = await until(
        async () => {
          const [w] = await allJobs(created.id);
          return w.attempts >= 2 ? w : null;
        },
        120_000,
        () => `no retry after NODE_FAIL\n${d.logTail(40)}\n${slurm.logTail(20)}`,
      );
    } finally {
      await slurm.startSlurmd();
    }
    expect(slurmState(first)).toBe('NODE_FAIL');
    const events = await allEvents(created.id);
    const retry = events.find((e) => e.type === 'job-retrying');
    expect(retry.job.statusReason).toMatch(/^worker_lost: .*NODE_FAIL/);
    // The new attempt is a new Slurm job, and runs once the node is back.
    const second = await clusterIdOf(created.id, 'work');
    expect(second).not.toBe(first);
    expect(retried.attempts).toBe(2);
    await d.call('POST', `/api/v1/runs/${created.id}/cancel`, { role: 'da' });
    await waitForRun(created.id, ['cancelled']);
    await until(() => !queued().includes(second), 30_000);
  }, 300_000);
});
