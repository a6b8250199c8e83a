import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JobDefinition, JobKey, JobVerdict } from '@wfs/domain';
import type { ClaimedJob, JobLifecycle } from '@wfs/runs';
import { Roots } from '@wfs/storage';
import { ExecuteJob } from './execute-job';
import { LocalExecutor } from './local-executor';
import { ToolMap } from './tools';
import type { Archive } from '@wfs/archive';

/** These steps never touch the archive. */
const noArchive = {} as Archive;

const TESTTOOL = path.resolve(__dirname, '../../../test/fixtures/tools/testtool');

function jobDef(over: Partial<JobDefinition>): JobDefinition {
  return {
    name: 'j',
    stage: '',
    executable: 'testtool',
    arguments: [],
    needs: [],
    scatter: null,
    requestCpus: 1,
    requestMemory: '1G',
    requestGpus: 0,
    requirements: { labels: [] },
    concurrencyLimits: [],
    timeout: 60,
    retries: 0,
    retryBackoff: 0,
    retryUnlessExit: null,
    success: 'exit_code',
    outputs: [],
    env: {},
    ...over,
  };
}

/** A lifecycle that claims one job and records what the worker reports. */
function fakeLifecycle(root: string, def: JobDefinition, stillRunning: boolean) {
  const finished: Array<{ verdict: JobVerdict; exitCode: number | null }> = [];
  const pids: number[] = [];
  const claimed = {
    run: {
      id: '1',
      processing_dir: root,
      version: 1,
      workflow: 'w',
      subject: null,
      parameters: {},
    },
    job: { name: def.name, idx: 0, attempts: 1, item: null },
    definition: { jobs: [def] },
    jobDefinition: def,
    sources: [],
  } as unknown as ClaimedJob;
  const lifecycle = {
    claim: async () => claimed,
    recordPid: async (_key: JobKey, pid: number) => {
      pids.push(pid);
      return stillRunning;
    },
    finish: async (_key: JobKey, verdict: JobVerdict, exitCode: number | null) => {
      finished.push({ verdict, exitCode });
    },
  } as unknown as JobLifecycle;
  return { lifecycle, finished, pids };
}

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

describe('ExecuteJob', () => {
  let root: string;
  const key: JobKey = { runId: 1, name: 'j', index: 0, attempt: 1 };
  const tools = new ToolMap({ tools: { testtool: TESTTOOL }, toolsFile: null });
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-execute-job-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  const make = (lifecycle: JobLifecycle, executor = new LocalExecutor()) =>
    new ExecuteJob(
      lifecycle,
      executor,
      tools,
      new Roots(root, root, [root]),
      {
        maxJobTimeoutSeconds: 3600,
        hostname: 'test',
      },
      noArchive,
    );

  test('a process whose attempt was cancelled between claim and spawn is stopped at once', async () => {
    const def = jobDef({ arguments: ['sleep', '30'] });
    const { lifecycle, finished, pids } = fakeLifecycle(root, def, false);
    const t0 = Date.now();
    await make(lifecycle).handle(key);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(finished).toHaveLength(1);
    expect(finished[0]?.verdict).toMatchObject({ ok: false, reason: 'cancelled' });
    expect(pids).toHaveLength(1);
    expect(gone(pids[0] as number)).toBe(true);
  });

  test('a process whose attempt is still running is left to finish', async () => {
    const def = jobDef({ arguments: ['sleep', '0.2', 'echo', 'done'] });
    const { lifecycle, finished } = fakeLifecycle(root, def, true);
    await make(lifecycle).handle(key);
    expect(finished).toEqual([{ verdict: { ok: true }, exitCode: 0 }]);
    expect(fs.readFileSync(path.join(root, 'logs', 'j.0.stdout.log'), 'utf8')).toMatch(/\ndone\n$/);
  });

  test('a process is listed under its attempt and stopped by stopAttempts (the recovery, when its attempt was taken over)', async () => {
    const def = jobDef({ arguments: ['sleep', '30'] });
    const { lifecycle, finished, pids } = fakeLifecycle(root, def, true);
    const executor = new LocalExecutor();
    const t0 = Date.now();
    const handled = make(lifecycle, executor).handle(key);
    while (executor.attempts().length === 0) await new Promise((r) => setTimeout(r, 20));
    expect(executor.attempts()).toEqual([key]);
    expect(executor.stopAttempts([{ ...key, attempt: 2 }])).toBe(0);
    expect(executor.stopAttempts([key])).toBe(1);
    await handled;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(finished[0]?.verdict).toMatchObject({ ok: false, reason: 'cancelled' });
    expect(gone(pids[0] as number)).toBe(true);
    expect(executor.attempts()).toEqual([]);
  });

  test('cancelRun stops a builtin step of the run', async () => {
    const def = jobDef({ executable: 'builtin:work', arguments: ['30'] });
    const { lifecycle, finished } = fakeLifecycle(root, def, true);
    const executor = new LocalExecutor();
    const t0 = Date.now();
    const handled = make(lifecycle, executor).handle(key);
    await new Promise((r) => setTimeout(r, 100));
    expect(executor.cancelRun(1)).toBe(1);
    await handled;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(finished[0]?.verdict).toMatchObject({ ok: false, reason: 'cancelled' });
    expect(executor.cancelRun(1)).toBe(0);
  });

  test('a builtin step over its timeout is stopped and reported as a timeout', async () => {
    const def = jobDef({ executable: 'builtin:work', arguments: ['30'], timeout: 1 });
    const { lifecycle, finished } = fakeLifecycle(root, def, true);
    await make(lifecycle).handle(key);
    expect(finished[0]?.verdict).toMatchObject({ ok: false, reason: 'timeout' });
  });

  test('a timeout beyond the longest timer is not taken as "at once"', async () => {
    const def = jobDef({ arguments: ['sleep', '0.3'], timeout: 40 * 24 * 3600 });
    const { lifecycle, finished } = fakeLifecycle(root, def, true);
    const job = new ExecuteJob(
      lifecycle,
      new LocalExecutor(),
      tools,
      new Roots(root, root, [root]),
      { maxJobTimeoutSeconds: 50 * 24 * 3600, hostname: 'test' },
      noArchive,
    );
    await job.handle(key);
    expect(finished).toEqual([{ verdict: { ok: true }, exitCode: 0 }]);
  });
});
