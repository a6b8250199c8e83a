/**
 * `events: summary` (CONTRACT 5.8) end to end: a scattered job's instances
 * publish `group-progress` (at most once a second while the group changes,
 * and a last one when it is done) instead of a `job-started` and a
 * `job-completed` each; a failure is still the instance's own `job-failed`;
 * the run's sequence stays gapless. The same messages reach AMQP.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { collectQueue, startStack, Stack, wfs } from '@wfs/testing';
import * as amqp from 'amqplib';
import { loadDefinitions } from '@wfs/workflows';

const FIXTURES = path.join(__dirname, 'fixtures', 'workflows');
let stack: Stack;
let workflowsDir: string;
const QUEUE = `summary-events-${process.pid}`;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-summary-workflows-'));
  for (const f of ['t_summary.yaml', 't_summary_fail.yaml'])
    fs.copyFileSync(path.join(FIXTURES, f), path.join(workflowsDir, f));
  stack = await startStack({
    env: { WFS_WORKFLOWS_DIR: workflowsDir, WFS_WORKER_CONCURRENCY: '4' },
  });
  const c = await amqp.connect(stack.config.amqpUrl);
  const ch = await c.createChannel();
  await ch.assertExchange(stack.config.eventsExchange, 'topic', { durable: true });
  await ch.assertQueue(QUEUE, { durable: false, autoDelete: false });
  await ch.bindQueue(QUEUE, stack.config.eventsExchange, 'run.t_summary.#');
  await c.close();
});

afterAll(async () => {
  const c = await amqp.connect(stack.config.amqpUrl).catch(() => null);
  if (c) {
    const ch = await c.createChannel();
    await ch.deleteQueue(QUEUE).catch(() => undefined);
    await c.close();
  }
  await stack?.stop();
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

const eventsOf = async (id: number): Promise<any[]> =>
  (await stack.call('GET', `/api/v1/runs/${id}/events?limit=1000`, { role: 'viewer' })).body.items;

test('40 summarised instances: group-progress counts add up, the last says done, no per-instance started/completed', async () => {
  const res = await stack.call('POST', '/api/v1/workflows/t_summary/runs', {
    role: 'da',
    body: { parameters: { n: 40, workSeconds: 0.15 }, submit: true },
  });
  expect(res.status).toBe(201);
  const id = res.body.id;
  const done = await stack.waitForRun(id);
  expect(done.state).toBe('complete');
  const events = await eventsOf(id);

  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
  const ofWork = events.filter((e) => e.job?.name === 'work');
  expect(ofWork.map((e) => e.type)).toEqual([]);
  // The unsummarised jobs around it still say started and completed.
  for (const name of ['prep', 'gather'])
    expect(events.filter((e) => e.job?.name === name).map((e) => e.type)).toEqual([
      'job-started',
      'job-completed',
    ]);

  const progress = events.filter((e) => e.type === 'group-progress');
  // 40 x 0.15 s over 4 slots is about 1.5 s: at least one while it runs, and the last.
  expect(progress.length).toBeGreaterThanOrEqual(2);
  expect(progress.length).toBeLessThanOrEqual(10);
  for (const e of progress) {
    const p = e.progress;
    expect(p.job).toBe('work');
    expect(p.total).toBe(40);
    expect(p.idle + p.running + p.completed + p.failed + p.held).toBe(40);
    expect(e.job).toBeNull();
  }
  const completed = progress.map((e) => e.progress.completed);
  expect([...completed].sort((a, b) => a - b)).toEqual(completed);
  expect(progress.at(-1).progress).toEqual({
    job: 'work',
    stage: 'working',
    total: 40,
    idle: 0,
    running: 0,
    completed: 40,
    failed: 0,
    held: 0,
  });
  // The last progress comes before gather starts, and the run's complete after everything.
  const at = (pred: (e: any) => boolean) => events.findIndex(pred);
  expect(at((e) => e === progress.at(-1))).toBeLessThan(
    at((e) => e.type === 'job-started' && e.job.name === 'gather'),
  );
  expect(events.at(-1).type).toBe('complete');
  // Other events carry progress null.
  expect(events.filter((e) => e.type !== 'group-progress').every((e) => e.progress === null)).toBe(
    true,
  );

  // The same messages reach the exchange, with routing key run.t_summary.group-progress.
  const consumer = await collectQueue(stack.config.amqpUrl, QUEUE);
  try {
    const deadline = Date.now() + 15_000;
    while (consumer.messages.filter((m) => m.body.runId === id).length < events.length) {
      if (Date.now() > deadline) throw new Error('messages did not all arrive');
      await new Promise((r) => setTimeout(r, 100));
    }
    const mine = consumer.messages.filter((m) => m.body.runId === id);
    expect(mine.filter((m) => m.routingKey === 'run.t_summary.group-progress')).toHaveLength(
      progress.length,
    );
    expect(
      mine.some(
        (m) => /job-(started|completed)$/.test(m.routingKey) && m.body.job?.name === 'work',
      ),
    ).toBe(false);
  } finally {
    await consumer.close();
  }
}, 60_000);

test('wfs watch shows a summary group as "work 12/40" (the old pimscache progress lines)', async () => {
  const res = await stack.call('POST', '/api/v1/workflows/t_summary/runs', {
    role: 'da',
    body: { parameters: { n: 40, workSeconds: 0.15 } },
  });
  const id = res.body.id;
  const watching = wfs(stack, ['watch', String(id)]);
  await new Promise((r) => setTimeout(r, 300));
  expect((await stack.call('POST', `/api/v1/runs/${id}/submit`, { role: 'da' })).status).toBe(202);
  const out = await watching;
  expect(out.code).toBe(0);
  const lines = out.stdout.split('\n').filter((l) => l.includes(' group-progress '));
  expect(lines.length).toBeGreaterThanOrEqual(2);
  for (const l of lines)
    expect(l).toMatch(new RegExp(`run ${id} #\\d+ group-progress work \\d+/40`));
  expect(lines.at(-1)).toMatch(/group-progress work 40\/40$/);
  expect(out.stdout).not.toMatch(/job-started work|job-completed work/);
}, 60_000);

test('a failing summarised instance publishes its own job-failed and fails the run', async () => {
  const res = await stack.call('POST', '/api/v1/workflows/t_summary_fail/runs', {
    role: 'da',
    body: { submit: true },
  });
  const done = await stack.waitForRun(res.body.id);
  expect(done.state).toBe('failed');
  expect(done.error.message).toContain('work[2]');
  const events = await eventsOf(res.body.id);
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
  const failed = events.filter((e) => e.type === 'job-failed');
  expect(failed.map((e) => [e.job.name, e.job.index])).toContainEqual(['work', 2]);
  expect(events.some((e) => e.type === 'job-started' || e.type === 'job-completed')).toBe(false);
  expect(events.at(-1).type).toBe('failed');
}, 60_000);

test('a definition with events: summary on an unscattered job is refused at load, naming the field', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-summary-bad-'));
  try {
    fs.writeFileSync(
      path.join(dir, 't_bad.yaml'),
      [
        'name: t_bad',
        'version: 1',
        'description: x',
        'subjectKind: none',
        'jobs:',
        '  - name: one',
        '    executable: builtin:noop',
        '    events: summary',
        '',
      ].join('\n'),
    );
    expect(() => loadDefinitions(dir)).toThrow(/jobs\.0\.events.*scatter/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
