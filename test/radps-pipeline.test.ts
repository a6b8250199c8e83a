/**
 * The RADPS memo's example pipeline (workflows/radps_pipeline.yaml) end to
 * end on the real services: the heuristics' result chooses the spws and
 * whether to self-calibrate, calibration and imaging scatter over the spws
 * found, a person decides at the two checkpoints (changing targetRms at the
 * first), self-calibration repeats until the noise is low enough, and the
 * tasks come from the included template library.
 */
import { startStack, Stack } from '@wfs/testing';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

async function until<T>(fn: () => Promise<T | null | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const jobsOf = async (id: number): Promise<any[]> =>
  (await stack.call('GET', `/api/v1/runs/${id}/jobs?limit=1000`, { role: 'viewer' })).body.items;
const count = (jobs: any[], name: string) => jobs.filter((j) => j.name === name).length;
const waitingAt = (id: number, gate: string) =>
  until(async () => {
    const r = (await stack.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' })).body;
    return r.waiting?.some((w: any) => w.job === gate) ? r : null;
  });

test('with checkpoints: the operator lowers targetRms at the first gate; selfcal repeats to it', async () => {
  const res = await stack.call('POST', '/api/v1/workflows/radps_pipeline/runs', {
    role: 'da',
    body: { parameters: { nSpw: 5 }, submit: true },
  });
  expect(res.status).toBe(201);
  const id = res.body.id;
  await waitingAt(id, 'calibrator_review');
  const atFirst = await jobsOf(id);
  expect(atFirst.find((j) => j.name === 'import').result).toMatchObject({
    spws: [0, 1, 2, 3, 4],
    selfcal: true,
  });
  expect(count(atFirst, 'calibrate')).toBe(5);
  expect(count(atFirst, 'image_spw')).toBe(0); // planned only when its needs are done
  const approved = await stack.call('POST', `/api/v1/runs/${id}/gates/calibrator_review/approve`, {
    role: 'da',
    body: { comment: 'calibrators fine; go deeper', parameters: { targetRms: 0.25 } },
  });
  expect(approved.status).toBe(200);
  await waitingAt(id, 'imaging_review');
  const selfcal = (await jobsOf(id)).find((j) => j.name === 'selfcal');
  // rms = 1/round: 0.25 is reached at round 4.
  expect(selfcal).toMatchObject({ state: 'completed', round: 4, result: { rms: 0.25 } });
  const second = await stack.call('POST', `/api/v1/runs/${id}/gates/imaging_review/approve`, {
    role: 'da',
    body: {},
  });
  expect(second.status).toBe(200);
  const done = await stack.waitForRun(id);
  expect(done.state).toBe('complete');
  const jobs = await jobsOf(id);
  expect(count(jobs, 'image_spw')).toBe(5);
  expect(jobs.every((j) => j.state === 'completed')).toBe(true);
}, 60_000);

test('without checkpoints and with selfcal never: the gates and self-calibration are skipped', async () => {
  const res = await stack.call('POST', '/api/v1/workflows/radps_pipeline/runs', {
    role: 'da',
    body: { parameters: { nSpw: 2, checkpoints: false, selfcal: 'never' }, submit: true },
  });
  const done = await stack.waitForRun(res.body.id);
  expect(done.state).toBe('complete');
  const jobs = await jobsOf(res.body.id);
  const state = (name: string) => jobs.find((j) => j.name === name)?.state;
  expect(['calibrator_review', 'selfcal', 'imaging_review'].map(state)).toEqual([
    'skipped',
    'skipped',
    'skipped',
  ]);
  expect(count(jobs, 'image_spw')).toBe(2);
  expect(state('image_continuum')).toBe('completed');
}, 60_000);
