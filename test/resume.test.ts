/**
 * Resume of a failed or cancelled run in place (CONTRACT 5.4, DAGMan's
 * rescue DAG), on the real Postgres, Redis and RabbitMQ: what completed keeps
 * its attempts, times and outputs; what failed, was removed or never started
 * runs again; the run's event sequence goes on with `resumed`, gapless at an
 * outside AMQP consumer; and the refusals (409, 403, 404), by REST and CLI.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { collectQueue, sequenceProblems, startStack, Stack, wfs } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures');
const QUEUE = `resume-test-${process.pid}`;

let stack: Stack;
let workflowsDir: string;
let consumer: Awaited<ReturnType<typeof collectQueue>>;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-resume-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  fs.copyFileSync(
    path.join(FIXTURES, 'workflows', 't_resume.yaml'),
    path.join(workflowsDir, 't_resume.yaml'),
  );
  stack = await startStack({
    env: {
      WFS_WORKFLOWS_DIR: workflowsDir,
      WFS_TOOL_TESTTOOL: path.join(FIXTURES, 'tools', 'testtool'),
      WFS_SUBSCRIBER_QUEUES: `${QUEUE}=run.t_resume.#`,
    },
  });
  consumer = await collectQueue(stack.config.amqpUrl, QUEUE);
});

afterAll(async () => {
  await consumer?.close();
  await stack?.stop();
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

async function submit(parameters: Record<string, unknown> = {}): Promise<any> {
  const res = await stack.call('POST', '/api/v1/workflows/t_resume/runs', {
    role: 'da',
    body: { parameters, submit: true },
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function jobsOf(id: number): Promise<any[]> {
  return (await stack.call('GET', `/api/v1/runs/${id}/jobs?limit=100`, { role: 'viewer' })).body
    .items;
}

const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** What a completed instance is: its attempts, times, and its output's bytes and mtime. */
function kept(jobs: any[], dir: string) {
  return jobs
    .filter((j) => j.name === 'prep')
    .map((j) => {
      const out = path.join(dir, 'working', `prep-${j.index}.txt`);
      return [j.index, j.attempts, j.startedAt, j.finishedAt, sha(out), fs.statSync(out).mtimeMs];
    });
}

async function eventsAtConsumer(runId: number, last: string): Promise<any[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const mine = consumer.messages.filter((m) => m.body.runId === runId);
    if (mine.some((m) => m.body.type === last) || Date.now() > deadline) return mine;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('resume a failed run in place', () => {
  test('only what did not complete runs again; the AMQP sequence goes on gapless with `resumed`', async () => {
    const created = await submit();
    const failed = await stack.waitForRun(created.id);
    expect(failed.state).toBe('failed');
    expect(failed.error.code).toBe('exit_code');
    const before = await jobsOf(created.id);
    expect(before.map((j) => [j.name, j.index, j.state, j.attempts])).toEqual([
      ['prep', 0, 'completed', 1],
      ['prep', 1, 'completed', 1],
      ['prep', 2, 'completed', 1],
      ['flaky', 0, 'failed', 1],
      ['last', 0, 'skipped', 0],
    ]);
    const keptBefore = kept(before, failed.processingDir);

    const res = await stack.call('POST', `/api/v1/runs/${created.id}/resume`, { role: 'da' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: created.id, resumedCount: 1, error: null });
    expect(['submitted', 'running', 'complete']).toContain(res.body.state);

    const done = await stack.waitForRun(created.id);
    expect(done.state).toBe('complete');
    expect(done.resumedCount).toBe(1);
    const after = await jobsOf(created.id);
    expect(after.map((j) => [j.name, j.index, j.state, j.attempts])).toEqual([
      ['prep', 0, 'completed', 1],
      ['prep', 1, 'completed', 1],
      ['prep', 2, 'completed', 1],
      ['flaky', 0, 'completed', 2],
      ['last', 0, 'completed', 1],
    ]);
    // The kept instances are untouched: attempts, times, output bytes and mtimes.
    expect(kept(after, done.processingDir)).toEqual(keptBefore);

    const events = await eventsAtConsumer(created.id, 'complete');
    expect(sequenceProblems(events)).toEqual([]);
    const types = events.map((m) => m.body.type);
    const resumedAt = types.indexOf('resumed');
    expect(types.indexOf('failed')).toBeLessThan(resumedAt);
    expect(types.slice(resumedAt)).toEqual([
      'resumed',
      'running',
      'job-started',
      'job-completed',
      'job-started',
      'job-completed',
      'complete',
    ]);
    expect(events[resumedAt]?.body).toMatchObject({
      actor: { role: 'da' },
      state: 'submitted',
      error: null,
    });
    // prep never started again: its only job-started events came before the failure.
    expect(
      events.filter((m) => m.body.type === 'job-started' && m.body.job.name === 'prep').length,
    ).toBe(3);
  }, 60_000);

  test('a cancelled run resumes too: its removed instance runs again', async () => {
    const created = await submit({ seconds: 3, failures: 0 });
    await stack.waitForRun(created.id, ['running'], 20_000);
    const flakyRunning = async () =>
      (await jobsOf(created.id)).find((j) => j.name === 'flaky')?.state === 'running';
    for (let i = 0; i < 100 && !(await flakyRunning()); i++)
      await new Promise((r) => setTimeout(r, 100));
    await stack.call('POST', `/api/v1/runs/${created.id}/cancel`, { role: 'da' });
    expect((await stack.waitForRun(created.id)).state).toBe('cancelled');
    const res = await stack.call('POST', `/api/v1/runs/${created.id}/resume`, { role: 'da' });
    expect(res.status).toBe(202);
    const done = await stack.waitForRun(created.id);
    expect(done.state).toBe('complete');
    const flaky = (await jobsOf(created.id)).find((j) => j.name === 'flaky');
    expect(flaky).toMatchObject({ state: 'completed', attempts: 2 });
  }, 60_000);

  test('through the CLI: wfs resume', async () => {
    const created = await submit();
    expect((await stack.waitForRun(created.id)).state).toBe('failed');
    const r = await wfs(stack, ['resume', String(created.id), '--json']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ id: created.id, resumedCount: 1 });
    expect((await stack.waitForRun(created.id)).state).toBe('complete');
  }, 60_000);
});

describe('resume refusals', () => {
  test('a complete run, a run still running, a sealed request, a viewer, an unknown run', async () => {
    const complete = await submit({ failures: 0 });
    expect((await stack.waitForRun(complete.id)).state).toBe('complete');
    const again = await stack.call('POST', `/api/v1/runs/${complete.id}/resume`, { role: 'da' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'ILLEGAL_TRANSITION' });
    expect(again.body.error.message).toMatch(/is complete: cannot resume it/);

    const running = await submit({ seconds: 5, failures: 0 });
    await stack.waitForRun(running.id, ['running'], 20_000);
    const busy = await stack.call('POST', `/api/v1/runs/${running.id}/resume`, { role: 'da' });
    expect(busy.status).toBe(409);

    const failed = await submit();
    expect((await stack.waitForRun(failed.id)).state).toBe('failed');
    const viewer = await stack.call('POST', `/api/v1/runs/${failed.id}/resume`, {
      role: 'viewer',
    });
    expect(viewer.status).toBe(403);
    expect((await stack.call('POST', '/api/v1/runs/999999/resume', { role: 'da' })).status).toBe(
      404,
    );
    // A request is sealed once a version of it is in the archive (an ingestion's end seals it).
    await stack.db.query(
      'UPDATE requests SET sealed = true WHERE id = (SELECT request_id FROM runs WHERE id = $1)',
      [failed.id],
    );
    const sealed = await stack.call('POST', `/api/v1/runs/${failed.id}/resume`, { role: 'da' });
    expect(sealed.status).toBe(409);
    expect(sealed.body.error.code).toBe('REQUEST_SEALED');
    const unchanged = await stack.call('GET', `/api/v1/runs/${failed.id}`, { role: 'viewer' });
    expect(unchanged.body).toMatchObject({ state: 'failed', resumedCount: 0 });
    await stack.waitForRun(running.id);
  }, 60_000);
});
