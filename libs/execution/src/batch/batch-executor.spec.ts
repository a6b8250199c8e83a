import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobKey } from '@wfs/domain';
import { ProcessSpec } from '../executor';
import { BatchExecutor, BatchLedger, judgeEnd } from './batch-executor';
import { BatchSpec, BatchStatus, BatchSystem } from './batch-system';

/** A batch system whose answers the test sets, recording what it was asked. */
class ScriptedSystem implements BatchSystem {
  readonly kind = 'slurm' as const;
  submitted: BatchSpec[] = [];
  cancelled: string[] = [];
  states = new Map<string, BatchStatus>();
  found: string | null = null;
  refuse: string | null = null;
  async submit(spec: BatchSpec): Promise<string> {
    if (this.refuse) throw new Error(this.refuse);
    this.submitted.push(spec);
    const id = String(100 + this.submitted.length);
    this.states.set(id, { state: 'pending' });
    return id;
  }
  async status(jobs: ReadonlyArray<{ id: string }>): Promise<Map<string, BatchStatus>> {
    return new Map(jobs.map((j) => [j.id, this.states.get(j.id) ?? { state: 'unknown' }]));
  }
  async cancel(id: string): Promise<void> {
    this.cancelled.push(id);
    this.states.set(id, { state: 'ended', end: { kind: 'removed', message: 'by uid 0' } });
  }
  async find(): Promise<string | null> {
    return this.found;
  }
}

const key: JobKey = { runId: 7, name: 'casa', index: 0, attempt: 1 };
const quiet = { log: () => undefined, warn: () => undefined };
const tick = () => new Promise((r) => setTimeout(r, 30));

function spec(dir: string, o: Partial<ProcessSpec> = {}): ProcessSpec {
  return {
    runId: 7,
    key,
    executable: '/bin/true',
    args: ['a b'],
    cwd: dir,
    env: { PATH: '/usr/bin' },
    timeoutMs: 60_000,
    stdoutPath: path.join(dir, 'casa.0.stdout'),
    stderrPath: path.join(dir, 'casa.0.stderr'),
    banner: '--- casa[0] attempt 1',
    requests: { cpus: 4, memoryMb: 16384, gpus: 0, labels: ['casa'] },
    workDir: dir,
    job: { name: 'casa', index: 0 },
    ...o,
  };
}

describe('BatchExecutor', () => {
  let dir: string;
  let system: ScriptedSystem;
  let recorded: Array<[JobKey, string]>;
  let ledger: BatchLedger & { running: boolean };
  let executor: BatchExecutor;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-batch-'));
    system = new ScriptedSystem();
    recorded = [];
    ledger = {
      running: true,
      async recordClusterJob(k, id) {
        recorded.push([k, id]);
        return this.running;
      },
    };
    executor = new BatchExecutor(system, ledger, quiet, 10);
  });

  /** Until the attempt just started is followed (submitted and recorded), however slow the machine. */
  const tracked = async () => {
    for (let i = 0; i < 500 && executor.attempts().length === 0; i++) await tick();
  };
  afterEach(async () => {
    await executor.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('submits the attempt with its name and requests, records the id first, and reports its exit', async () => {
    const done = executor.run(spec(dir));
    await tracked();
    expect(system.submitted).toHaveLength(1);
    expect(system.submitted[0]).toMatchObject({
      name: 'wfs-7-casa-0',
      attempt: 1,
      cpus: 4,
      memoryMb: 16384,
      labels: ['casa'],
      args: ['a b'],
      timeoutSeconds: 60,
    });
    expect(recorded).toEqual([[key, '101']]);
    expect(fs.readFileSync(spec(dir).stdoutPath, 'utf8')).toBe('--- casa[0] attempt 1\n');
    system.states.set('101', { state: 'running' });
    await tick();
    system.states.set('101', {
      state: 'ended',
      end: { kind: 'exited', exitCode: 3, signal: null },
    });
    expect(await done).toMatchObject({ exitCode: 3, cancelled: false, timedOut: false });
  });

  test('a cancel that came before the id was recorded removes the batch job: nothing runs', async () => {
    ledger.running = false;
    expect(await executor.run(spec(dir))).toMatchObject({ cancelled: true });
    expect(system.cancelled).toEqual(['101']);
  });

  test('its own removals read as cancel or timeout; anyone else`s as removed_externally', async () => {
    const cancelled = executor.run(spec(dir));
    await tracked();
    expect(executor.cancelRun(7)).toBe(1);
    expect(await cancelled).toMatchObject({ cancelled: true });

    const timedOut = executor.run(spec(dir, { key: { ...key, attempt: 2 }, timeoutMs: 20 }));
    await tracked();
    system.states.set('102', { state: 'running' });
    expect(await timedOut).toMatchObject({ timedOut: true });
    expect(system.cancelled).toEqual(['101', '102']);

    const external = executor.run(spec(dir, { key: { ...key, attempt: 3 } }));
    await tracked();
    system.states.set('103', { state: 'ended', end: { kind: 'removed', message: 'by uid 1000' } });
    expect(await external).toMatchObject({
      batchEnd: { kind: 'removed_externally', message: 'by uid 1000' },
    });
  });

  test('the timeout counts from the start, not from the time queued', async () => {
    const done = executor.run(spec(dir, { timeoutMs: 40 }));
    await new Promise((r) => setTimeout(r, 120));
    expect(system.cancelled).toEqual([]); // still pending: not timed out
    system.states.set('101', { state: 'running' });
    expect(await done).toMatchObject({ timedOut: true });
  });

  test('held by the batch system: removed there, held in wfs with its reason', async () => {
    const done = executor.run(spec(dir));
    await tracked();
    system.states.set('101', { state: 'held', reason: 'disk quota exceeded (code 34)' });
    expect(await done).toMatchObject({
      batchEnd: { kind: 'held', message: 'disk quota exceeded (code 34)' },
    });
    expect(system.cancelled).toEqual(['101']);
  });

  test('a job the batch system forgot without a record is lost (tried again)', async () => {
    const done = executor.run(spec(dir));
    await tracked();
    system.states.delete('101');
    expect((await done).batchEnd).toMatchObject({ kind: 'lost' });
  });

  test('a refused submit is a spawn error with the tool`s words', async () => {
    system.refuse = 'sbatch: error: Batch job submission failed: Invalid partition name specified';
    expect((await executor.run(spec(dir))).spawnError).toMatch(/Invalid partition name/);
    expect(recorded).toEqual([]);
  });

  test('attach follows a recorded id without submitting; an unrecorded one is found by name, or lost', async () => {
    const attached = executor.attach(spec(dir), '555');
    system.states.set('555', {
      state: 'ended',
      end: { kind: 'exited', exitCode: 0, signal: null },
    });
    expect(await attached).toMatchObject({ exitCode: 0 });
    expect(system.submitted).toEqual([]);
    expect(recorded).toEqual([]);

    system.found = '556';
    system.states.set('556', {
      state: 'ended',
      end: { kind: 'exited', exitCode: 0, signal: null },
    });
    expect(await executor.attach(spec(dir), null)).toMatchObject({ exitCode: 0 });
    expect(recorded).toEqual([[key, '556']]);

    system.found = null;
    expect((await executor.attach(spec(dir), null)).batchEnd).toMatchObject({ kind: 'lost' });
    expect(system.submitted).toEqual([]);
  });

  test('shutdown lets go: the attempt is detached, the batch job left running', async () => {
    const done = executor.run(spec(dir));
    await tracked();
    await executor.stopAll();
    expect(await done).toMatchObject({ detached: true });
    expect(system.cancelled).toEqual([]);
  });

  test('letGo drops an attempt another submit host adopted, without removing it', async () => {
    const done = executor.run(spec(dir));
    await tracked();
    expect(executor.attempts()).toEqual([key]);
    expect(executor.letGo([key])).toBe(1);
    expect(await done).toMatchObject({ detached: true });
    expect(system.cancelled).toEqual([]);
    expect(executor.attempts()).toEqual([]);
  });
});

describe('judgeEnd', () => {
  test('maps the batch system`s ends onto the contract`s reasons', () => {
    expect(judgeEnd({ kind: 'timeout', message: 'TIMEOUT' }, null, null, '1')).toMatchObject({
      timedOut: true,
    });
    expect(
      judgeEnd({ kind: 'out_of_memory', message: 'OUT_OF_MEMORY' }, null, null, '1').batchEnd,
    ).toEqual({ kind: 'out_of_memory', message: 'OUT_OF_MEMORY' });
    expect(judgeEnd({ kind: 'lost', message: 'NODE_FAIL' }, null, null, '1').batchEnd).toEqual({
      kind: 'lost',
      message: 'NODE_FAIL',
    });
    expect(
      judgeEnd({ kind: 'failed_to_start', message: 'BOOT_FAIL' }, null, null, '1').spawnError,
    ).toBe('BOOT_FAIL');
    expect(
      judgeEnd({ kind: 'exited', exitCode: null, signal: 'SIGKILL' }, null, null, '1'),
    ).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
  });
});
