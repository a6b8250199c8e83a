/**
 * Scheduling like a batch system (CONTRACT 5.3, 5.5; WORKFLOWS v1.1
 * "Resources and placement"), on the real Postgres, Redis and RabbitMQ with
 * real workers of the sizes each test gives them: partitionable slots
 * (cpus, memory), holds for want of a worker and their release when one
 * registers, labels, named limits, maxConcurrentJobs, pause, operator hold and
 * release (REST and CLI), priority, and the 4xx of bad input. What a job did is
 * read from its own start and end times (GET .../jobs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as amqp from 'amqplib';
import { INestApplicationContext } from '@nestjs/common';
import { received, Received, startStack, Stack, until, wfs } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures');

/** builtin:work steps of several sizes, labels, a limit and maxConcurrentJobs (test/fixtures/workflows). */
const SCHEDULING_FIXTURES = ['t_cpu2', 't_mem4', 't_big', 't_casa_label', 't_limited', 't_capped'];

let stack: Stack;
let workflowsDir: string;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-sched-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  for (const f of SCHEDULING_FIXTURES)
    fs.copyFileSync(
      path.join(FIXTURES, 'workflows', `${f}.yaml`),
      path.join(workflowsDir, `${f}.yaml`),
    );
  stack = await startStack({ workers: 0, env: { WFS_WORKFLOWS_DIR: workflowsDir } });
});

afterAll(async () => {
  await stack?.stop();
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers

/** A worker of this size; the rest of the stack's environment as it is. */
function worker(env: Record<string, string>): Promise<INestApplicationContext> {
  return stack.startWorker({ WFS_WORKER_CONCURRENCY: '20', ...env });
}

async function submit(workflow: string, parameters: Record<string, unknown>, extra = {}) {
  const res = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    role: 'da',
    body: { parameters, submit: true, ...extra },
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function jobs(runId: number): Promise<any[]> {
  const res = await stack.call('GET', `/api/v1/runs/${runId}/jobs?limit=1000`, { role: 'viewer' });
  expect(res.status).toBe(200);
  return res.body.items;
}

/** The most instances that ran at once, from their own start and end times. */
function mostAtOnce(list: any[]): number {
  const points = list
    .filter((j) => j.startedAt && j.finishedAt)
    .flatMap((j) => [
      { t: Date.parse(j.startedAt), d: 1 },
      { t: Date.parse(j.finishedAt), d: -1 },
    ])
    // An end and a start at the same instant: the end first (the slot was free).
    .sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const p of points) most = Math.max(most, (now += p.d));
  return most;
}

const workOf = (list: any[]) => list.filter((j) => j.name === 'work');

// ---------------------------------------------------------------- resources

test('a 4-cpu worker runs two 2-cpu jobs at once and not a third; GET /workers shows what it has and uses', async () => {
  const w = await worker({
    WFS_WORKER_CPUS: '4',
    WFS_WORKER_MEMORY: '64G',
    WFS_HOSTNAME: 'four-cpu',
  });
  try {
    const run = await submit('t_cpu2', { n: 3, seconds: 1.5 });
    const busy = await until('the worker to use all 4 cpus', async () => {
      const { items } = (await stack.call('GET', '/api/v1/workers', { role: 'viewer' })).body;
      const me = items.find((x: any) => x.host === 'four-cpu');
      // Both started (placed instances not yet claimed also hold their cpus, and wait for nothing).
      return me?.cpusInUse === 4 && me.jobs.every((j: any) => j.state === 'running') ? me : null;
    });
    expect(busy).toMatchObject({
      executor: 'local',
      cpus: 4,
      memory: '64G',
      gpus: 0,
      labels: [],
      alive: true,
    });
    expect(busy.jobs).toHaveLength(2);
    expect(busy.memoryInUse).toBe('2G');
    // The third waits, and says why.
    const waiting = workOf(await jobs(run.id)).filter((j) => j.state === 'idle');
    expect(waiting.map((j) => j.waitingFor)).toEqual(['resources']);
    expect(waiting[0].requests).toEqual({ cpus: 2, memory: '1G', gpus: 0, labels: [] });
    expect((await stack.waitForRun(run.id)).state).toBe('complete');
    const done = workOf(await jobs(run.id));
    expect(mostAtOnce(done)).toBe(2);
    expect(done.every((j) => j.executor?.kind === 'local' && j.executor.host === 'four-cpu')).toBe(
      true,
    );
  } finally {
    await stack.stopWorker(w);
  }
});

test('memory is never over-committed', async () => {
  const w = await worker({ WFS_WORKER_CPUS: '16', WFS_WORKER_MEMORY: '10G' });
  try {
    const run = await submit('t_mem4', { n: 5, seconds: 1 });
    expect((await stack.waitForRun(run.id)).state).toBe('complete');
    // 4G each on 10G: two at once (a third would make 12G), though 16 cpus are free.
    expect(mostAtOnce(workOf(await jobs(run.id)))).toBe(2);
  } finally {
    await stack.stopWorker(w);
  }
});

test('a job no live worker could ever fit is held with the reason, and runs once a big enough worker starts', async () => {
  const small = await worker({ WFS_WORKER_CPUS: '4', WFS_WORKER_MEMORY: '8G' });
  let big: INestApplicationContext | null = null;
  try {
    const run = await submit('t_big', { n: 1, seconds: 0 });
    const held = await until('the job to be held', async () => {
      const j = workOf(await jobs(run.id))[0];
      return j?.state === 'held' ? j : null;
    });
    expect(held.statusReason).toBe(
      'no_matching_worker: needs 8 cpus, 1G; the largest live worker has 4 cpus, 8G',
    );
    expect(held.waitingFor).toBeNull();
    big = await worker({
      WFS_WORKER_CPUS: '8',
      WFS_WORKER_MEMORY: '16G',
      WFS_HOSTNAME: 'eight-cpu',
    });
    expect((await stack.waitForRun(run.id)).state).toBe('complete');
    const [work] = workOf(await jobs(run.id));
    expect(work).toMatchObject({ state: 'completed', attempts: 1, host: 'eight-cpu' });
    const events = (await stack.call('GET', `/api/v1/runs/${run.id}/events`, { role: 'viewer' }))
      .body.items;
    const types = events.map((e: any) => e.type);
    expect(types).toEqual(expect.arrayContaining(['job-held', 'job-released']));
    expect(types.indexOf('job-held')).toBeLessThan(types.indexOf('job-released'));
    expect(events.map((e: any) => e.sequence)).toEqual(events.map((_: any, i: number) => i + 1));
  } finally {
    await stack.stopWorker(small);
    if (big) await stack.stopWorker(big);
  }
});

test('labels route jobs to the workers that have them', async () => {
  const plain = await worker({
    WFS_WORKER_CPUS: '8',
    WFS_WORKER_MEMORY: '16G',
    WFS_HOSTNAME: 'plain-host',
  });
  const casa = await worker({
    WFS_WORKER_CPUS: '8',
    WFS_WORKER_MEMORY: '16G',
    WFS_HOSTNAME: 'casa-host',
    WFS_WORKER_LABELS: 'casa,lustre',
  });
  try {
    const labelled = await submit('t_casa_label', { n: 6, seconds: 0.2 });
    const any = await submit('t_cpu2', { n: 8, seconds: 0.3 });
    expect((await stack.waitForRun(labelled.id)).state).toBe('complete');
    expect((await stack.waitForRun(any.id)).state).toBe('complete');
    expect(new Set(workOf(await jobs(labelled.id)).map((j) => j.host))).toEqual(
      new Set(['casa-host']),
    );
    // Jobs that ask for no label may go anywhere: both workers took some.
    expect(new Set(workOf(await jobs(any.id)).map((j) => j.host))).toEqual(
      new Set(['casa-host', 'plain-host']),
    );
    const { items } = (await stack.call('GET', '/api/v1/workers', { role: 'viewer' })).body;
    expect(items.find((x: any) => x.host === 'casa-host')?.labels).toEqual(['casa', 'lustre']);
  } finally {
    await stack.stopWorker(plain);
    await stack.stopWorker(casa);
  }
});

// ---------------------------------------------------------------- limits and pause

test('a named limit and maxConcurrentJobs are never exceeded over all runs, from the jobs own times', async () => {
  const w = await worker({ WFS_WORKER_CPUS: '8', WFS_WORKER_MEMORY: '16G' });
  try {
    const set = await stack.call('PUT', '/api/v1/limits/t_archive', {
      role: 'ops',
      body: { max: 2 },
    });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ name: 't_archive', max: 2, inUse: 0 });
    const runs = [
      await submit('t_limited', { n: 4, seconds: 0.6 }),
      await submit('t_limited', { n: 4, seconds: 0.6 }),
    ];
    const seen = await until('a job waiting for the limit', async () => {
      const all = (await Promise.all(runs.map((r) => jobs(r.id)))).flat();
      return all.find((j) => j.waitingFor === 'limit:t_archive');
    });
    expect(seen.state).toBe('idle');
    const inUse = (await stack.call('GET', '/api/v1/limits', { role: 'viewer' })).body.items;
    expect(inUse).toEqual([{ name: 't_archive', max: 2, inUse: expect.any(Number) }]);
    expect(inUse[0].inUse).toBeLessThanOrEqual(2);
    for (const r of runs) expect((await stack.waitForRun(r.id)).state).toBe('complete');
    const limited = (await Promise.all(runs.map((r) => jobs(r.id)))).flat();
    expect(mostAtOnce(workOf(limited))).toBe(2);

    // t_capped has maxConcurrentJobs: 3, over all its runs.
    const capped = [
      await submit('t_capped', { n: 4, seconds: 0.6 }),
      await submit('t_capped', { n: 4, seconds: 0.6 }),
    ];
    for (const r of capped) expect((await stack.waitForRun(r.id)).state).toBe('complete');
    const all = (await Promise.all(capped.map((r) => jobs(r.id)))).flat();
    expect(mostAtOnce(workOf(all))).toBe(3);

    expect((await stack.call('DELETE', '/api/v1/limits/t_archive', { role: 'ops' })).status).toBe(
      204,
    );
    expect((await stack.call('DELETE', '/api/v1/limits/t_archive', { role: 'ops' })).status).toBe(
      404,
    );
    // Unset, the limit is unlimited: four at once now.
    const free = await submit('t_limited', { n: 4, seconds: 0.6 });
    expect((await stack.waitForRun(free.id)).state).toBe('complete');
    expect(mostAtOnce(workOf(await jobs(free.id)))).toBe(4);
  } finally {
    await stack.stopWorker(w);
  }
});

test('a paused workflow starts nothing until unpaused, and its pause and unpause are published', async () => {
  const connection = await amqp.connect(stack.config.amqpUrl);
  const ch = await connection.createChannel();
  await ch.assertExchange(stack.config.eventsExchange, 'topic', { durable: true });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, stack.config.eventsExchange, 'workflow.t_cpu2.*');
  const messages: Received[] = [];
  await ch.consume(queue, (m) => m && messages.push(received(m)), { noAck: true });
  const w = await worker({ WFS_WORKER_CPUS: '8', WFS_WORKER_MEMORY: '16G' });
  try {
    const paused = await stack.call('POST', '/api/v1/workflows/t_cpu2/pause', {
      role: 'ops',
      body: { reason: 'lustre maintenance' },
    });
    expect(paused.status).toBe(200);
    expect(paused.body.paused).toEqual({
      by: 'ops-token',
      reason: 'lustre maintenance',
      at: expect.any(String),
    });
    const run = await submit('t_cpu2', { n: 2, seconds: 0 });
    await new Promise((r) => setTimeout(r, 2500));
    expect((await stack.call('GET', `/api/v1/runs/${run.id}`, { role: 'viewer' })).body.state).toBe(
      'submitted',
    );
    expect(workOf(await jobs(run.id)).map((j) => [j.state, j.waitingFor])).toEqual([
      ['idle', 'workflow_paused'],
      ['idle', 'workflow_paused'],
    ]);
    const listed = (await stack.call('GET', '/api/v1/workflows', { role: 'viewer' })).body.items;
    expect(listed.find((x: any) => x.name === 't_cpu2').paused.reason).toBe('lustre maintenance');
    const un = await stack.call('POST', '/api/v1/workflows/t_cpu2/unpause', { role: 'ops' });
    expect(un.status).toBe(200);
    expect(un.body.paused).toBeNull();
    expect((await stack.waitForRun(run.id)).state).toBe('complete');
    await until('both messages', () => messages.length >= 2);
    expect(messages.map((m) => m.routingKey)).toEqual([
      'workflow.t_cpu2.paused',
      'workflow.t_cpu2.unpaused',
    ]);
    expect(messages[0]?.body).toMatchObject({
      specVersion: 1,
      type: 'workflow-paused',
      workflow: 't_cpu2',
      actor: { name: 'ops-token', role: 'ops' },
      reason: 'lustre maintenance',
      messageId: expect.any(String),
      occurredAt: expect.any(String),
    });
    expect(messages[0]?.properties.deliveryMode).toBe(2); // persistent
  } finally {
    await stack.stopWorker(w);
    await ch.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
  }
});

// ---------------------------------------------------------------- hold and release

test('an operator holds and releases one instance from REST and the CLI; a running one is stopped, its attempt not a failure', async () => {
  const w = await worker({ WFS_WORKER_CPUS: '8', WFS_WORKER_MEMORY: '16G' });
  try {
    // A running instance: stopped and held; released, it runs again as attempt 2 and the run completes.
    const run = await submit('t_cpu2', { n: 1, seconds: 4 });
    await until('the job to run', async () => workOf(await jobs(run.id))[0]?.state === 'running');
    const held = await stack.call('POST', `/api/v1/runs/${run.id}/jobs/work/0/hold`, {
      role: 'ops',
      body: { reason: 'checking the disk' },
    });
    expect(held.status).toBe(200);
    expect(held.body).toMatchObject({
      name: 'work',
      index: 0,
      state: 'held',
      attempts: 1,
      statusReason: 'held_by_operator: checking the disk',
    });
    await until('the worker to let go of it', async () => {
      const { items } = (await stack.call('GET', '/api/v1/workers', { role: 'viewer' })).body;
      return items.every((x: any) => x.jobs.length === 0);
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect(workOf(await jobs(run.id))[0]).toMatchObject({ state: 'held', attempts: 1 });
    const again = await stack.call('POST', `/api/v1/runs/${run.id}/jobs/work/0/hold`, {
      role: 'ops',
      body: { reason: 'twice' },
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ILLEGAL_JOB_TRANSITION');
    const cliRelease = await wfs(stack, ['release', String(run.id), 'work', '0'], { role: 'ops' });
    expect(cliRelease.code).toBe(0);
    expect(cliRelease.stdout).toMatch(/job work\[0\] {2}idle/);
    const done = await stack.waitForRun(run.id);
    expect(done.state).toBe('complete');
    expect(workOf(await jobs(run.id))[0]).toMatchObject({ state: 'completed', attempts: 2 });
    const events = (await stack.call('GET', `/api/v1/runs/${run.id}/events`, { role: 'viewer' }))
      .body.items;
    const heldEvent = events.find((e: any) => e.type === 'job-held');
    expect(heldEvent.actor).toEqual({ name: 'ops-token', role: 'ops' });
    expect(heldEvent.job).toMatchObject({
      state: 'held',
      statusReason: 'held_by_operator: checking the disk',
    });
    expect(events.find((e: any) => e.type === 'job-released').actor).toEqual({
      name: 'ops-token',
      role: 'ops',
    });
    expect(events.some((e: any) => e.type === 'job-failed' || e.type === 'job-retrying')).toBe(
      false,
    );
    // Released again from idle: 409.
    const stray = await stack.call('POST', `/api/v1/runs/${run.id}/jobs/work/0/release`, {
      role: 'ops',
    });
    expect(stray.status).toBe(409);

    // An idle instance, from the CLI, while its workflow is paused: unpaused, it still waits.
    await stack.call('POST', '/api/v1/workflows/t_mem4/pause', {
      role: 'ops',
      body: { reason: 'hold test' },
    });
    const idle = await submit('t_mem4', { n: 1, seconds: 0 });
    const cliHold = await wfs(stack, ['hold', String(idle.id), 'work', '--reason', 'wrong flags'], {
      role: 'ops',
    });
    expect(cliHold.code).toBe(0);
    expect(cliHold.stdout).toMatch(/held_by_operator: wrong flags/);
    await stack.call('POST', '/api/v1/workflows/t_mem4/unpause', { role: 'ops' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(workOf(await jobs(idle.id))[0]).toMatchObject({ state: 'held', attempts: 0 });
    const rest = await stack.call('POST', `/api/v1/runs/${idle.id}/jobs/work/0/release`, {
      role: 'ops',
    });
    expect(rest.status).toBe(200);
    expect((await stack.waitForRun(idle.id)).state).toBe('complete');
    // Usage errors, and a viewer's try.
    expect((await wfs(stack, ['hold', String(idle.id), 'work'], { role: 'ops' })).code).toBe(2);
    const viewer = await wfs(stack, ['release', String(idle.id), 'work', '0'], { role: 'viewer' });
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/403|FORBIDDEN|role/i);
  } finally {
    await stack.stopWorker(w);
  }
});

// ---------------------------------------------------------------- priority and bad input

test('priority is set at create and changed by PATCH; bad input gets its 4xx and changes nothing', async () => {
  const create = (body: unknown) =>
    stack.call('POST', '/api/v1/workflows/t_cpu2/runs', { role: 'da', body });
  for (const priority of [101, -1, 1.5, '50', true]) {
    const res = await create({ parameters: { n: 1 }, priority });
    expect(res.status).toBe(400);
  }
  const made = await create({ parameters: { n: 1 }, priority: 80, submit: true });
  expect(made.status).toBe(201);
  expect(made.body.priority).toBe(80);
  expect((await create({ parameters: { n: 1 } })).body.priority).toBe(50);
  const id = made.body.id;
  const patch = (body: unknown, role: 'ops' | 'da' = 'ops') =>
    stack.call('PATCH', `/api/v1/runs/${id}`, { role, body });
  expect((await patch({ priority: 10 })).body.priority).toBe(10);
  expect((await patch({ priority: 10 }, 'da')).status).toBe(403);
  for (const bad of [
    { priority: 200 },
    { priority: 'high' },
    {},
    { priority: 5, state: 'complete' },
  ])
    expect((await patch(bad)).status).toBe(400);
  expect((await stack.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' })).body.priority).toBe(
    10,
  );
  expect(
    (await stack.call('PATCH', '/api/v1/runs/999999', { role: 'ops', body: { priority: 1 } }))
      .status,
  ).toBe(404);
  await stack.call('POST', `/api/v1/runs/${id}/cancel`, { role: 'da' });
  expect((await patch({ priority: 20 })).status).toBe(409);

  const limit = (name: string, body: unknown, role: 'ops' | 'da' = 'ops') =>
    stack.call('PUT', `/api/v1/limits/${name}`, { role, body });
  for (const body of [{ max: -1 }, { max: 1.5 }, { max: '2' }, {}, { max: 2, extra: 1 }])
    expect((await limit('casa_licences', body)).status).toBe(400);
  expect((await limit('Bad%20Name', { max: 1 })).status).toBe(400);
  expect((await limit('casa_licences', { max: 1 }, 'da')).status).toBe(403);
  expect((await stack.call('GET', '/api/v1/limits', { role: 'viewer' })).body.items).toEqual([]);

  const pause = (name: string, body: unknown) =>
    stack.call('POST', `/api/v1/workflows/${name}/pause`, { role: 'ops', body });
  expect((await pause('no_such_workflow', { reason: 'x' })).status).toBe(404);
  expect((await pause('t_cpu2', {})).status).toBe(400);
  expect((await pause('t_cpu2', { reason: '' })).status).toBe(400);
  expect(
    (
      await stack.call('POST', '/api/v1/workflows/t_cpu2/pause', {
        role: 'viewer',
        body: { reason: 'x' },
      })
    ).status,
  ).toBe(403);
  expect(
    (await stack.call('GET', '/api/v1/workflows/t_cpu2', { role: 'viewer' })).body.paused,
  ).toBeNull();

  const hold = (p: string, body: unknown = { reason: 'x' }) =>
    stack.call('POST', p, { role: 'ops', body });
  expect((await hold(`/api/v1/runs/${id}/jobs/nope/0/hold`)).status).toBe(404);
  expect((await hold(`/api/v1/runs/${id}/jobs/work/7/hold`)).status).toBe(404);
  expect((await hold(`/api/v1/runs/${id}/jobs/work/-1/hold`)).status).toBe(400);
  expect((await hold(`/api/v1/runs/${id}/jobs/work/0/hold`, {})).status).toBe(400);
  // The run is cancelled: its instance is removed, nothing to hold.
  expect((await hold(`/api/v1/runs/${id}/jobs/work/0/hold`)).status).toBe(409);
  expect((await stack.call('GET', '/api/v1/workers', { role: null })).status).toBe(401);
});
