/**
 * The HTCondor executor through the whole service (WFS_EXECUTOR=htcondor):
 * a worker that is a submit host, on the real Postgres, Redis and RabbitMQ,
 * against the one-machine stand-ins of test/fixtures/condor (condor_submit,
 * condor_rm, condor_hold write job event logs in HTCondor's own text form).
 * HTCondor is not packaged for Debian 12 and refuses root, so this is as far
 * as it can be run here; test/htcondor-adapter.test.ts runs against a real
 * pool where one exists.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
const BIN = path.join(__dirname, 'fixtures', 'condor');

let stack: Stack;
let workflowsDir: string;
let state: string;

beforeAll(async () => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-condor-pool-'));
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-condor-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  fs.copyFileSync(
    path.join(__dirname, 'fixtures', 'workflows', 't_batch.yaml'),
    path.join(workflowsDir, 't_batch.yaml'),
  );
  stack = await startStack({
    workers: 0,
    env: {
      WFS_WORKFLOWS_DIR: workflowsDir,
      WFS_EXECUTOR: 'htcondor',
      WFS_CONDOR_BIN: BIN,
      WFS_CONDOR_SUBMIT_EXTRA: 'accounting_group = group_wfs.test',
      // The stand-ins keep their pool beside it; the executor passes CONDOR_CONFIG on to the tools.
      CONDOR_CONFIG: path.join(state, 'condor_config'),
    },
  });
  await stack.startWorker();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  // Nothing of the stand-in pool outlives the tests.
  const jobs = path.join(state, 'jobs');
  for (const f of fs.existsSync(jobs) ? fs.readdirSync(jobs) : []) {
    if (!f.endsWith('.json')) continue;
    const job = JSON.parse(fs.readFileSync(path.join(jobs, f), 'utf8'));
    for (const pid of [job.pgid ? -job.pgid : null, job.shadowPid])
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
  }
  fs.rmSync(state, { recursive: true, force: true });
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

async function submit(workflow: string, body: Record<string, unknown>): Promise<any> {
  const res = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    role: 'da',
    body: { submit: true, ...body },
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function jobsOf(id: number): Promise<any[]> {
  return (await stack.call('GET', `/api/v1/runs/${id}/jobs?limit=1000`, { role: 'viewer' })).body
    .items;
}

async function until<T>(fn: () => Promise<T | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The instance once its HTCondor id is recorded and its event log says it executes. */
async function executing(runId: number, name = 'work'): Promise<any> {
  return until(async () => {
    const j = (await jobsOf(runId)).find((x) => x.name === name);
    const id = j?.executor?.clusterJobId;
    if (!id) return null;
    const run = (await stack.call('GET', `/api/v1/runs/${runId}`, { role: 'viewer' })).body;
    const log = path.join(run.processingDir, 'logs', `${name}.0.a${j.attempts}.log`);
    return fs.existsSync(log) && /^001 /m.test(fs.readFileSync(log, 'utf8')) ? j : null;
  });
}

const condor = (tool: string, args: string[]) =>
  execFileSync(path.join(BIN, tool), args, {
    env: { ...process.env, WFS_FAKE_CONDOR_STATE: state },
  }).toString();

describe('the HTCondor executor (stand-ins in HTCondor`s formats)', () => {
  test('std_calibration completes; each tool ran as one HTCondor job from its own submit description', async () => {
    const created = await submit('std_calibration', { subject: `19A-${Date.now()}.sb1.eb1` });
    const run = await stack.waitForRun(created.id, ['complete', 'failed'], 90_000);
    expect(run.error).toBeNull();
    expect(run.state).toBe('complete');
    const jobs = await jobsOf(created.id);
    const condorJobs = jobs.filter((j) => j.executor?.kind === 'htcondor');
    expect(condorJobs.map((j) => j.name)).toEqual(expect.arrayContaining(['fetch', 'casa']));
    for (const j of condorJobs) {
      expect(j.executor.clusterJobId).toMatch(/^\d+\.0$/);
      const sub = fs.readFileSync(
        path.join(run.processingDir, 'logs', `${j.name}.${j.index}.a${j.attempts}.sub`),
        'utf8',
      );
      expect(sub).toContain(`+WfsRunId = ${created.id}`);
      expect(sub).toContain(`+WfsJob = "${j.name}[${j.index}]"`);
      expect(sub).toContain('accounting_group = group_wfs.test');
      expect(sub).toMatch(/^request_cpus = \d+$/m);
    }
    const casa = condorJobs.find((j) => j.name === 'casa');
    expect(
      fs.readFileSync(path.join(run.processingDir, 'logs', 'casa.0.stdout.log'), 'utf8'),
    ).toMatch(/attempt 1 via htcondor from /);
    expect(casa.exitCode).toBe(0);
  }, 120_000);

  test('held by HTCondor (012): the job is held with the batch system`s reason; released, it runs again', async () => {
    const created = await submit('t_batch', { parameters: { n: 1, seconds: 30 } });
    const job = await executing(created.id);
    condor('condor_hold', ['-reason', 'disk quota exceeded', job.executor.clusterJobId]);
    const held = await until(async () => {
      const [w] = await jobsOf(created.id);
      return w.state === 'held' ? w : null;
    });
    expect(held.statusReason).toBe('batch_system: disk quota exceeded (Code 1 Subcode 0)');
    const released = await stack.call('POST', `/api/v1/runs/${created.id}/jobs/work/0/release`, {
      role: 'ops',
    });
    expect(released.status).toBe(200);
    const again = await until(async () => {
      const [w] = await jobsOf(created.id);
      return w.state === 'running' && w.executor?.clusterJobId !== job.executor.clusterJobId
        ? w
        : null;
    });
    expect(again.attempts).toBe(2);
    await stack.call('POST', `/api/v1/runs/${created.id}/cancel`, { role: 'da' });
    await stack.waitForRun(created.id, ['cancelled']);
  }, 90_000);

  test('condor_rm from outside (009): removed_externally, the run fails', async () => {
    const created = await submit('t_batch', { parameters: { n: 1, seconds: 30 } });
    const job = await executing(created.id);
    condor('condor_rm', [job.executor.clusterJobId]);
    const run = await stack.waitForRun(created.id, ['failed'], 30_000);
    expect(run.error.code).toBe('removed_externally');
    const [w] = await jobsOf(created.id);
    expect(w.statusReason).toMatch(/^removed_externally: .*condor_rm/);
  }, 60_000);

  test('a submit host stopped while its jobs run lets go of them; the next one re-attaches, submitting none again', async () => {
    const created = await submit('t_batch', { parameters: { n: 2, seconds: 3 } });
    await executing(created.id);
    const before = await jobsOf(created.id);
    // Graceful: the worker does not wait for its batch jobs, it lets go of them.
    const started = Date.now();
    await stack.stopWorker(stack.workers[0] as (typeof stack.workers)[number]);
    expect(Date.now() - started).toBeLessThan(3000);
    await stack.startWorker();
    const run = await stack.waitForRun(created.id, ['complete', 'failed'], 60_000);
    expect(run.state).toBe('complete');
    const work = (await jobsOf(created.id)).filter((j) => j.name === 'work');
    expect(work.map((j) => [j.attempts, j.executor.clusterJobId])).toEqual(
      before.filter((j) => j.name === 'work').map((j) => [1, j.executor.clusterJobId]),
    );
    for (const j of work) {
      const log = fs.readFileSync(
        path.join(run.processingDir, 'logs', `work.${j.index}.a1.log`),
        'utf8',
      );
      expect(log.match(/^000 /gm)).toHaveLength(1); // submitted once
      expect(log).toMatch(/^005 /m);
    }
  }, 90_000);

  test('a submit-description line that sets what wfs sets stops the worker at start, naming the line', () => {
    const c = stack.config;
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist/apps/worker/src/main.js')], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        DATABASE_URL: c.databaseUrl,
        REDIS_URL: c.redisUrl,
        AMQP_URL: c.amqpUrl,
        WFS_DATA_ROOT: stack.dataRoot,
        WFS_QUEUE_PREFIX: c.queuePrefix,
        WFS_WORKFLOWS_DIR: workflowsDir,
        WFS_EXECUTOR: 'htcondor',
        WFS_CONDOR_BIN: BIN,
        WFS_CONDOR_SUBMIT_EXTRA: 'accounting_group = a\nexecutable = /bin/evil',
      },
      timeout: 60_000,
    });
    expect(r.status).not.toBe(0);
    // The worker's log is JSON lines (CONTRACT 5.1): what a person reads is each line's msg.
    const said = (r.stdout.toString() + r.stderr.toString())
      .split('\n')
      .map((l) => {
        try {
          return String((JSON.parse(l) as { msg?: unknown }).msg ?? l);
        } catch {
          return l;
        }
      })
      .join('\n');
    expect(said).toMatch(
      /WFS_CONDOR_SUBMIT_EXTRA line 2 \("executable = \/bin\/evil"\): executable is set by wfs itself/,
    );
  });

  test('cancel removes the HTCondor job (condor_rm): its log ends with 009', async () => {
    const created = await submit('t_batch', { parameters: { n: 1, seconds: 30 } });
    const job = await executing(created.id);
    await stack.call('POST', `/api/v1/runs/${created.id}/cancel`, { role: 'da' });
    const run = await stack.waitForRun(created.id, ['cancelled']);
    const log = path.join(run.processingDir, 'logs', `work.0.a${job.attempts}.log`);
    await until(async () => /^009 /m.test(fs.readFileSync(log, 'utf8')));
  }, 60_000);
});
