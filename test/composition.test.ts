/**
 * Composition end to end (WORKFLOWS v1.1 "Composition"): t_composed, made of
 * templates from test/fixtures/workflows/lib (one library including another)
 * and the t_scatter workflow as a sub-workflow, runs to complete through the
 * whole service; its jobs carry the expanded names, and each starts after the
 * jobs it needs finished (GET .../jobs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack } from '@wfs/testing';

const FIXTURES = path.join(__dirname, 'fixtures', 'workflows');

let stack: Stack;
let workflowsDir: string;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-compose-workflows-'));
  fs.cpSync(path.join(FIXTURES, 'lib'), path.join(workflowsDir, 'lib'), { recursive: true });
  fs.copyFileSync(
    path.join(FIXTURES, 'composed', 't_composed.yaml'),
    path.join(workflowsDir, 't_composed.yaml'),
  );
  fs.copyFileSync(path.join(FIXTURES, 't_scatter.yaml'), path.join(workflowsDir, 't_scatter.yaml'));
  stack = await startStack({ env: { WFS_WORKFLOWS_DIR: workflowsDir } });
});

afterAll(async () => {
  await stack?.stop();
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

it('offers the composed workflow (not the libraries) and runs it in the order of its expanded needs', async () => {
  const listed = await stack.call('GET', '/api/v1/workflows', { role: 'viewer' });
  expect(listed.status).toBe(200);
  const names = (listed.body.items ?? listed.body).map((w: { name: string }) => w.name).sort();
  expect(names).toEqual(['t_composed', 't_scatter']);

  const created = await stack.call('POST', '/api/v1/workflows/t_composed/runs', {
    role: 'da',
    body: { parameters: { nSpw: 3 }, submit: true },
  });
  expect(created.status).toBe(201);
  const runId = created.body.id as number;
  expect((await stack.waitForRun(runId)).state).toBe('complete');

  const res = await stack.call('GET', `/api/v1/runs/${runId}/jobs?limit=1000`, { role: 'viewer' });
  expect(res.status).toBe(200);
  const jobs = res.body.items as Array<{
    name: string;
    index: number;
    state: string;
    startedAt: string;
    finishedAt: string;
  }>;
  expect(jobs.map((j) => `${j.name}[${j.index}]`)).toEqual([
    'fetch[0]',
    'calib.prep[0]',
    'calib.work[0]',
    'calib.work[1]',
    'calib.work[2]',
    'calib.gather[0]',
    'image[0]',
  ]);
  expect(jobs.map((j) => j.state)).toEqual(jobs.map(() => 'completed'));
  const needs: Record<string, string[]> = {
    'calib.prep': ['fetch'],
    'calib.work': ['calib.prep'],
    'calib.gather': ['calib.work'],
    image: ['calib.gather'],
  };
  for (const job of jobs)
    for (const need of needs[job.name] ?? [])
      for (const before of jobs.filter((j) => j.name === need))
        expect(Date.parse(job.startedAt)).toBeGreaterThanOrEqual(Date.parse(before.finishedAt));

  // A job log through its dotted name.
  const log = await stack.call('GET', `/api/v1/runs/${runId}/jobs/calib.work/1/log`, {
    role: 'viewer',
  });
  expect(log.status).toBe(200);
});
