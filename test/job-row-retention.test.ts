/**
 * The row retention (WFS_JOB_ROWS_RETENTION_DAYS, docs/operations.md "Big
 * runs") through a real worker's sweep on the real Postgres: a finished run
 * whose directory is gone loses its job rows and its published per-instance
 * events once it finished longer ago than the retention; its run row, job
 * count, DAG counts, run-level events and failures stay. Runs not yet due,
 * still in the QA area, or being ingested keep everything. A sweep of small
 * batches deletes the same.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Sweeper } from '@wfs/operations';
import { finishedDaysAgo as finishedAgo, startStack, Stack, until, wfs } from '@wfs/testing';

const FIXTURES = path.join(__dirname, 'fixtures', 'workflows');
const INSTANCE_EVENTS = ['job-started', 'job-completed', 'group-progress'];

let stack: Stack;
let workflowsDir: string;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-retention-workflows-'));
  for (const f of ['t_summary.yaml', 't_summary_fail.yaml'])
    fs.copyFileSync(path.join(FIXTURES, f), path.join(workflowsDir, f));
  stack = await startStack({
    env: {
      WFS_WORKFLOWS_DIR: workflowsDir,
      WFS_SWEEP_INTERVAL_SECONDS: '1',
      WFS_JOB_ROWS_RETENTION_DAYS: '90',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

async function runToEnd(workflow: string, parameters: Record<string, unknown>): Promise<any> {
  const res = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    role: 'da',
    body: { parameters, submit: true },
  });
  expect(res.status).toBe(201);
  return stack.waitForRun(res.body.id);
}

const finishedDaysAgo = (runId: number, days: number) => finishedAgo(stack, runId, days);
const getRun = async (id: number) => (await stack.call('GET', `/api/v1/runs/${id}`)).body;
const jobsOf = async (id: number): Promise<any[]> =>
  (await stack.call('GET', `/api/v1/runs/${id}/jobs?limit=1000`)).body.items;
const eventsOf = async (id: number): Promise<any[]> =>
  (await stack.call('GET', `/api/v1/runs/${id}/events?limit=1000`)).body.items;
const graphOf = async (id: number): Promise<any> =>
  (await stack.call('GET', `/api/v1/runs/${id}/graph`)).body;

/** What a run's reads say, to compare before and after. */
async function picture(id: number) {
  const [run, jobs, events] = await Promise.all([getRun(id), jobsOf(id), eventsOf(id)]);
  return { run, jobs, events };
}

test('old runs whose directory is gone lose their job rows and per-instance events; what a user reads of the run stays', async () => {
  // Due: a complete run (30 summarised instances between prep and gather), a failed one.
  const done = await runToEnd('t_summary', { n: 30 });
  const failed = await runToEnd('t_summary_fail', {});
  expect([done.state, failed.state]).toEqual(['complete', 'failed']);
  // Not due: finished 60 days ago (its directory expires at 21, its rows stay until 90).
  const young = await runToEnd('t_summary', { n: 30 });
  // Due, but its directory is in the QA area; due, but being ingested.
  const inQa = await runToEnd('t_summary', { n: 3 });
  const ingesting = await runToEnd('t_summary', { n: 3 });

  const before = new Map<number, Awaited<ReturnType<typeof picture>>>();
  for (const r of [done, failed, young, inQa, ingesting]) before.set(r.id, await picture(r.id));
  expect(before.get(done.id)!.jobs).toHaveLength(32);
  expect(before.get(done.id)!.events.map((e) => e.type)).toContain('group-progress');
  const graphBefore = await graphOf(done.id);

  await stack.db.query(`UPDATE runs SET disk_state = 'qa' WHERE id = $1`, [inQa.id]);
  await stack.db.query(
    `UPDATE runs SET disk_state = 'removed', archive_state = 'ingesting' WHERE id = $1`,
    [ingesting.id],
  );
  for (const r of [done, failed, inQa, ingesting]) await finishedDaysAgo(r.id, 100);
  await finishedDaysAgo(young.id, 60);

  // The worker's sweep (every second here) expires the directories, then prunes in the same pass.
  await until(
    'the due runs pruned',
    async () => (await getRun(done.id)).jobsPrunedAt && (await getRun(failed.id)).jobsPrunedAt,
  );

  for (const r of [done, failed]) {
    const was = before.get(r.id)!;
    const now = await picture(r.id);
    expect(now.run).toMatchObject({
      state: r.state,
      diskState: 'expired',
      jobs: [],
      jobsTotal: was.run.jobsTotal,
      error: was.run.error,
    });
    expect(Date.parse(now.run.jobsPrunedAt)).toBeGreaterThan(Date.parse(r.finishedAt));
    expect(now.jobs).toEqual([]);
    // Every event but the per-instance ones, unchanged (same sequences and messageIds), then `expired`.
    const kept = was.events.filter((e) => !INSTANCE_EVENTS.includes(e.type));
    expect(now.events.slice(0, -1)).toEqual(kept);
    expect(now.events[now.events.length - 1].type).toBe('expired');
    expect(now.events.map((e) => e.type)).not.toEqual(expect.arrayContaining(['job-started']));
  }
  // The failure stays: the failing instance's own job-failed and the run's failed.
  expect(
    (await eventsOf(failed.id)).filter((e) => ['job-failed', 'failed'].includes(e.type)),
  ).toHaveLength(2);

  // The DAG still shows each group's counts and span, from what the rows said.
  const graphAfter = await graphOf(done.id);
  expect(graphAfter.nodes).toEqual(graphBefore.nodes);
  expect(graphAfter.nodes.find((n: any) => n.name === 'work').counts).toEqual({ completed: 30 });

  // The CLI says so.
  const shown = await wfs(stack, ['status', String(done.id)], { role: 'viewer' });
  expect(shown.stdout).toContain(
    `32 job instances; their rows were deleted by the retention sweep at ${(await getRun(done.id)).jobsPrunedAt}`,
  );

  // The others keep everything, also after more sweeps.
  await new Promise((r) => setTimeout(r, 2_500));
  expect((await getRun(young.id)).diskState).toBe('expired');
  for (const r of [young, inQa, ingesting]) {
    const was = before.get(r.id)!;
    const now = await picture(r.id);
    expect(now.run.jobsPrunedAt).toBeNull();
    expect(now.jobs).toEqual(was.jobs);
    const instanceEvents = (evs: any[]) => evs.filter((e) => INSTANCE_EVENTS.includes(e.type));
    expect(instanceEvents(now.events)).toEqual(instanceEvents(was.events));
  }

  // A sweep of its own, retention 30 days and batches of 7 rows: the 60-day-old run goes, whole.
  const lines: string[] = [];
  const log = { log: (m: string) => lines.push(m), warn: (m: string) => lines.push(`WARN ${m}`) };
  const sweeper = new Sweeper(
    stack.db,
    {
      processingRoot: stack.config.processingRoot,
      retentionDays: 21,
      rows: { retentionDays: 30, batch: 7 },
    },
    log,
  );
  const was = before.get(young.id)!;
  const result = await until('a sweep of our own', () => sweeper.sweepOnce());
  expect(result.pruned).toEqual([
    {
      runId: young.id,
      jobs: 32,
      events: was.events.filter((e) => INSTANCE_EVENTS.includes(e.type)).length,
    },
  ]);
  expect(lines.filter((l) => l.startsWith('WARN'))).toEqual([]);
  expect(lines.find((l) => l.startsWith(`sweeper: run ${young.id} finished `))).toMatch(
    /: deleted its 32 job row\(s\) and \d+ per-instance event\(s\)$/,
  );
  expect(await jobsOf(young.id)).toEqual([]);
  expect((await getRun(young.id)).jobsTotal).toBe(32);
  // Nothing is pruned twice.
  const again = await until('another sweep of our own', () => sweeper.sweepOnce());
  expect(again.pruned).toEqual([]);
});
