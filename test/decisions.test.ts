/**
 * Data-driven steps (WORKFLOWS v1.1, RADPS decision boxes) end to end on the
 * real Postgres, Redis and RabbitMQ: a job's result (the JSON object it
 * wrote to {{dirs.result}}) is kept with the instance and read by a later
 * job's `when`; a `when` that does not hold skips its job, and the jobs that
 * need it still run; a result that is not a JSON object fails with
 * bad_result.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures');

let stack: Stack;
let workflowsDir: string;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-decide-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  for (const f of ['t_decide', 't_badresult', 't_repeat', 't_dynamic'])
    fs.copyFileSync(
      path.join(FIXTURES, 'workflows', `${f}.yaml`),
      path.join(workflowsDir, `${f}.yaml`),
    );
  stack = await startStack({
    env: {
      WFS_WORKFLOWS_DIR: workflowsDir,
      WFS_TOOL_TESTTOOL: path.join(FIXTURES, 'tools', 'testtool'),
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

async function runOf(workflow: string, parameters: Record<string, unknown>) {
  const res = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    role: 'da',
    body: { parameters, submit: true },
  });
  expect(res.status).toBe(201);
  const done = await stack.waitForRun(res.body.id);
  const jobs = (
    await stack.call('GET', `/api/v1/runs/${res.body.id}/jobs?limit=100`, { role: 'viewer' })
  ).body.items;
  return { run: done, jobs: new Map<string, any>(jobs.map((j: any) => [j.name, j])) };
}

describe('results and when', () => {
  test('the result says selfcal: selfcal runs, and the result is on the job', async () => {
    const { run, jobs } = await runOf('t_decide', { mode: 'selfcal' });
    expect(run.state).toBe('complete');
    expect(jobs.get('heur')).toMatchObject({
      state: 'completed',
      result: { mode: 'selfcal', spws: [0, 1, 2] },
    });
    expect(jobs.get('selfcal')).toMatchObject({ state: 'completed', result: null });
    expect(jobs.get('image')).toMatchObject({ state: 'completed' });
  });

  test('the result says otherwise: selfcal is skipped, saying why, and image still runs', async () => {
    const { run, jobs } = await runOf('t_decide', { mode: 'plain' });
    expect(run.state).toBe('complete');
    expect(jobs.get('selfcal')).toMatchObject({
      state: 'skipped',
      attempts: 0,
      statusReason:
        "when: jobs.heur.result.mode == 'selfcal' and 2 in jobs.heur.result.spws is false",
    });
    expect(jobs.get('image')).toMatchObject({ state: 'completed', attempts: 1 });
    // {{jobs.heur.result.mode}} in its arguments rendered the result.
    const argv = JSON.parse(
      fs.readFileSync(path.join(run.processingDir, 'working', 'image-argv.json'), 'utf8'),
    );
    expect(argv).toContain('mode=plain');
    const events = (
      await stack.call('GET', `/api/v1/runs/${run.id}/events?limit=100`, { role: 'viewer' })
    ).body.items;
    expect(events.filter((e: any) => e.job?.name === 'selfcal')).toEqual([]);
    expect(events.map((e: any) => e.sequence)).toEqual(events.map((_: any, i: number) => i + 1));
  });

  test.each([
    ['not JSON', 'selfcal please', /bad_result: its result heur\.0\.result\.json is not JSON/],
    [
      'a list, not an object',
      '[1, 2]',
      /bad_result: its result heur\.0\.result\.json is not a JSON object/,
    ],
    [
      'over 64 KiB',
      JSON.stringify({ big: 'x'.repeat(70_000) }),
      /bad_result: its result heur\.0\.result\.json is \d+ bytes, over the 64 KiB/,
    ],
  ])('a result that is %s fails the job with bad_result', async (_, text, reason) => {
    const { run, jobs } = await runOf('t_badresult', { text });
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('bad_result');
    expect(jobs.get('heur').statusReason).toMatch(reason);
    expect(jobs.get('after').state).toBe('skipped');
  });
});

describe('repeat', () => {
  test.each([
    ['until holds at round 3', 3, 3],
    ['max stops it at round 5', 10, 5],
  ])('%s; its dependents start after the last round', async (_, target, rounds) => {
    const { run, jobs } = await runOf('t_repeat', { target });
    expect(run.state).toBe('complete');
    const selfcal = jobs.get('selfcal');
    expect(selfcal).toMatchObject({
      state: 'completed',
      round: rounds,
      attempts: rounds,
      result: { rms: rounds },
    });
    const image = jobs.get('image');
    expect(Date.parse(image.startedAt)).toBeGreaterThanOrEqual(Date.parse(selfcal.finishedAt));
    const argv = JSON.parse(
      fs.readFileSync(path.join(run.processingDir, 'working', 'image-argv.json'), 'utf8'),
    );
    expect(argv).toContain(`rms=${rounds}`);
    const events = (
      await stack.call('GET', `/api/v1/runs/${run.id}/events?limit=100`, { role: 'viewer' })
    ).body.items.filter((e: any) => e.job?.name === 'selfcal');
    expect(events.map((e: any) => e.type)).toEqual([
      ...Array.from({ length: rounds - 1 }, () => ['job-started', 'job-retrying']).flat(),
      'job-started',
      'job-completed',
    ]);
    expect(events[1].job.statusReason).toMatch(/^repeat: round 1 done/);
  });
});

describe('dynamic scatter', () => {
  test('as many instances as the result lists, planned when that job is done', async () => {
    const { run } = await runOf('t_dynamic', {});
    expect(run.state).toBe('complete');
    const jobs = (
      await stack.call('GET', `/api/v1/runs/${run.id}/jobs?limit=100`, { role: 'viewer' })
    ).body.items;
    expect(jobs.map((j: any) => [j.name, j.index, j.state])).toEqual([
      ['import', 0, 'completed'],
      ['image', 0, 'completed'],
      ['image', 1, 'completed'],
      ['image', 2, 'completed'],
      ['gather', 0, 'completed'],
    ]);
    for (const spw of [3, 5, 7])
      expect(
        fs.readFileSync(path.join(run.processingDir, 'working', `image-${spw}.txt`), 'utf8'),
      ).toBe(`spw ${spw}`);
    expect(run.jobsTotal).toBe(5);
  });

  test('an empty list makes no instances, and the run goes on', async () => {
    const { run, jobs } = await runOf('t_dynamic', { found: '[]' });
    expect(run.state).toBe('complete');
    expect(jobs.has('image')).toBe(false);
    expect(jobs.get('gather').state).toBe('completed');
  });

  test('a result that is not a list fails the run with bad_scatter, naming the job', async () => {
    const { run } = await runOf('t_dynamic', { found: '"all"' });
    expect(run.state).toBe('failed');
    expect(run.error).toMatchObject({ code: 'bad_scatter' });
    expect(run.error.message).toMatch(
      /job image cannot scatter: scatter dimension "spw" takes \{\{jobs.import.result.spws\}\}, which is "all", not a list/,
    );
  });
});
