import { startStack, Stack } from '@wfs/testing';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

test('std_calibration runs end to end', async () => {
  const created = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
    body: { subject: '19A-001.sb1.eb1', submit: true },
  });
  expect(created.status).toBe(201);
  const run = await stack.waitForRun(created.body.id);
  expect(run.state).toBe('complete');
});
