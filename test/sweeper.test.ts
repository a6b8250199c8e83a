/**
 * The processing-area sweeper, through a real worker's timer on the real
 * Postgres and filesystem: finished runs older than the retention period lose
 * their directory and become `expired` (with an `expired` event); the QA area,
 * runs not yet due, and anything a symlink points at outside are left alone.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SweeperService } from '../apps/worker/src/sweeper.service';
import { finishedDaysAgo as finishedAgo, startStack, Stack, until } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
const nonce = () => randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const FIXTURE = `
name: t_sweep_noop
version: 1
description: One in-process job that does nothing; stays in the processing area.
subjectKind: none
parameters: { type: object, additionalProperties: false, properties: {} }
jobs:
  - name: nothing
    executable: builtin:noop
`;

let stack: Stack;
let workflowsDir: string;
let outside: string;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-sweep-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  fs.writeFileSync(path.join(workflowsDir, 't_sweep_noop.yaml'), FIXTURE);
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-sweep-outside-'));
  stack = await startStack({
    env: { WFS_WORKFLOWS_DIR: workflowsDir, WFS_SWEEP_INTERVAL_SECONDS: '1' },
  });
});

afterAll(async () => {
  await stack?.stop();
  for (const d of [workflowsDir, outside]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

async function runToEnd(workflow: string, body: Record<string, unknown>): Promise<any> {
  const res = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    body: { submit: true, ...body },
    role: 'da',
  });
  expect(res.status).toBe(201);
  return stack.waitForRun(res.body.id);
}

const finishedDaysAgo = (runId: number, days: number) => finishedAgo(stack, runId, days);

const getRun = async (id: number) =>
  (await stack.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' })).body;
const eventTypes = async (id: number) =>
  (
    (await stack.call('GET', `/api/v1/runs/${id}/events`, { role: 'viewer' })).body.items as any[]
  ).map((e) => e.type);

test('expired processing-area runs are deleted and marked; QA area, young runs and symlink targets are kept', async () => {
  const { processingRoot, qaRoot } = stack.config;

  // Due: a failed calibration (stays in processing) and a complete run that needs no QA.
  const failed = await runToEnd('std_calibration', {
    subject: `19A-003.SIMFAIL-EXIT3.eb${nonce()}`,
  });
  expect(failed.state).toBe('failed');
  expect(failed.diskState).toBe('processing');
  const done = await runToEnd('t_sweep_noop', {});
  expect(done.state).toBe('complete');
  expect(done.diskState).toBe('processing');
  // Not yet due: finished 20 days ago, retention is 21.
  const young = await runToEnd('t_sweep_noop', {});
  // Due, but being ingested: its ingestion still reads (and then moves) the directory.
  const ingesting = await runToEnd('t_sweep_noop', {});
  await stack.db.query(`UPDATE runs SET archive_state = 'ingesting' WHERE id = $1`, [ingesting.id]);
  // In the QA area, finished long ago: never swept.
  const qa = await runToEnd('std_calibration', { subject: `19A-003.sb1.eb${nonce()}` });
  expect(qa.state).toBe('complete');
  expect(qa.diskState).toBe('qa');
  expect(qa.processingDir.startsWith(qaRoot + path.sep)).toBe(true);
  // A second QA run whose row claims the processing area through a link: the link resolves
  // into the QA area, so removeInside refuses it.
  const qa2 = await runToEnd('std_calibration', { subject: `19A-003.sb2.eb${nonce()}` });
  expect(qa2.diskState).toBe('qa');
  const sneaky = path.join(processingRoot, `sneaky-${nonce()}`);
  fs.symlinkSync(qa2.processingDir, sneaky);
  await stack.db.query(
    `UPDATE runs SET disk_state = 'processing', processing_dir = $2 WHERE id = $1`,
    [qa2.id, sneaky],
  );

  for (const r of [failed, done, qa, qa2]) expect(fs.existsSync(r.processingDir)).toBe(true);
  expect(fs.existsSync(young.processingDir)).toBe(true);

  // Links inside a due run's directory that point outside: the links go, their targets stay.
  fs.writeFileSync(path.join(outside, 'keep.txt'), 'precious');
  fs.mkdirSync(path.join(outside, 'subdir'));
  fs.writeFileSync(path.join(outside, 'subdir', 'also-keep.txt'), 'precious too');
  fs.symlinkSync(outside, path.join(failed.processingDir, 'working', 'link-to-outside'));
  fs.symlinkSync(
    path.join(outside, 'keep.txt'),
    path.join(failed.processingDir, 'products', 'keep-link.txt'),
  );

  await finishedDaysAgo(failed.id, 30);
  await finishedDaysAgo(done.id, 22);
  await finishedDaysAgo(young.id, 20);
  await finishedDaysAgo(ingesting.id, 30);
  await finishedDaysAgo(qa.id, 365);
  await finishedDaysAgo(qa2.id, 365);

  // The worker's timer (every second here) does the sweeping.
  await until(
    'two runs expired',
    async () =>
      (await getRun(failed.id)).diskState === 'expired' &&
      (await getRun(done.id)).diskState === 'expired',
  );

  const stillIngesting = await getRun(ingesting.id);
  expect([stillIngesting.diskState, fs.existsSync(ingesting.processingDir)]).toEqual([
    'processing',
    true,
  ]);

  for (const r of [failed, done]) {
    const now = await getRun(r.id);
    expect(now.diskState).toBe('expired');
    expect(now.state).toBe(r.state);
    expect(fs.existsSync(r.processingDir)).toBe(false);
    const types = await eventTypes(r.id);
    expect(types.filter((t) => t === 'expired')).toHaveLength(1);
    expect(types[types.length - 1]).toBe('expired');
    const events = (await stack.call('GET', `/api/v1/runs/${r.id}/events`, { role: 'viewer' })).body
      .items as any[];
    const expired = events[events.length - 1];
    expect(expired.diskState).toBe('expired');
    expect(expired.runId).toBe(r.id);
  }

  // Symlink targets outside survive.
  expect(fs.readFileSync(path.join(outside, 'keep.txt'), 'utf8')).toBe('precious');
  expect(fs.readFileSync(path.join(outside, 'subdir', 'also-keep.txt'), 'utf8')).toBe(
    'precious too',
  );

  // A few more sweeps: the rest stays as it was, and nothing expires twice.
  const sweeper = stack.workers[0]!.get(SweeperService).sweeper!;
  await sleep(2_500);
  // (null while the worker's own timer holds the sweep lock: try again)
  const again = await until('a sweep of our own', () => sweeper.sweepOnce());
  expect(again.expired).toEqual([]);
  expect(again.skipped.map((s) => s.runId)).toEqual([qa2.id]);

  expect((await getRun(young.id)).diskState).toBe('processing');
  expect(fs.existsSync(young.processingDir)).toBe(true);
  for (const r of [qa, qa2]) {
    expect(fs.existsSync(r.processingDir)).toBe(true);
    expect(fs.existsSync(path.join(r.processingDir, 'products'))).toBe(true);
    expect(await eventTypes(r.id)).not.toContain('expired');
  }
  expect((await getRun(qa.id)).diskState).toBe('qa');
  expect((await getRun(qa2.id)).diskState).toBe('processing');
  for (const r of [failed, done])
    expect((await eventTypes(r.id)).filter((t) => t === 'expired')).toHaveLength(1);
  // Without WFS_JOB_ROWS_RETENTION_DAYS an expired run keeps its job rows and job events.
  expect(again.pruned).toEqual([]);
  for (const r of [failed, done]) {
    expect((await getRun(r.id)).jobsPrunedAt).toBeNull();
    const jobs = (await stack.call('GET', `/api/v1/runs/${r.id}/jobs`)).body.items;
    expect(jobs.length).toBeGreaterThan(0);
    expect(await eventTypes(r.id)).toContain('job-started');
  }

  // Once the young run is due, it goes too.
  await finishedDaysAgo(young.id, 21);
  await until('young run expired', async () => (await getRun(young.id)).diskState === 'expired');
  expect(fs.existsSync(young.processingDir)).toBe(false);
});
