/**
 * Logs (CONTRACT 5.1): the compiled API and worker, their stdout to files (so
 * not a terminal: JSON by default), run a workflow called with a token made
 * for the test. Every line is one JSON object with time, level, msg and
 * process; the lines about the run carry its runId and job; no ANSI escape
 * and no token anywhere.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Deployment, faultEnv, startDeployment, TOKENS, uniqueName, until } from '@wfs/testing';

let d: Deployment;
let spanLog: string;

beforeAll(async () => {
  const workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-logs-workflows-'));
  d = await startDeployment({
    workers: 1,
    env: faultEnv(workflowsDir, `${uniqueName('logs')}.wfs-status`),
  });
  spanLog = path.join(d.dataRoot, 'spans.log');
}, 120_000);

afterAll(async () => {
  await d?.stop();
});

const logFiles = () => {
  const dir = path.join(d.dataRoot, 'logs');
  return fs.readdirSync(dir).map((f) => path.join(dir, f));
};

test('JSON lines with the run, its jobs and the request; no ANSI escape, no token', async () => {
  const made = await d.call('POST', '/api/v1/tokens', { body: { name: 'logs-test', role: 'da' } });
  expect(made.status).toBe(201);
  const secret = made.body.token as string;
  expect(secret.length).toBeGreaterThan(10);
  const created = await d.call('POST', '/api/v1/workflows/t_fault/runs', {
    body: { parameters: { seconds: 0, after: 0, spanLog }, submit: true },
    headers: { authorization: `Bearer ${secret}`, 'x-request-id': 'logs-test-1' },
  });
  expect(created.status).toBe(201);
  const runId = created.body.id as number;
  // A call with a wrong token: it says so in a line, without the token.
  const refused = await d.call('GET', `/api/v1/runs/${runId}`, {
    headers: { authorization: `Bearer not-${secret}` },
  });
  expect(refused.status).toBe(401);
  await until(
    `run ${runId} to complete`,
    async () => (await d.call('GET', `/api/v1/runs/${runId}`)).body?.state === 'complete',
    60_000,
  );
  // Stopped gracefully: their last lines are written too.
  for (const p of [...d.workers, ...(d.api ? [d.api] : [])]) await d.stopProcess(p);

  const files = logFiles();
  expect(files.some((f) => path.basename(f).startsWith('api-'))).toBe(true);
  expect(files.some((f) => path.basename(f).startsWith('worker-'))).toBe(true);
  const lines: Array<Record<string, any>> = [];
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    expect(text.includes('\x1b')).toBe(false);
    expect(text).not.toContain('\\u001b');
    for (const secretText of [secret, `not-${secret}`, ...Object.values(TOKENS)])
      expect(text).not.toContain(secretText);
    // The broker's password (the test's AMQP URL has one) is never written either.
    expect(text).not.toMatch(/:guest@/);
    for (const raw of text.split('\n').filter((l) => l.length > 0)) {
      let line: Record<string, any>;
      try {
        line = JSON.parse(raw) as Record<string, any>;
      } catch {
        throw new Error(`${path.basename(f)}: not a JSON line: ${raw}`);
      }
      expect(typeof line.time).toBe('string');
      expect(Number.isNaN(Date.parse(line.time))).toBe(false);
      expect(['debug', 'info', 'warn', 'error', 'fatal']).toContain(line.level);
      expect(typeof line.msg).toBe('string');
      expect(line.process).toBe(path.basename(f).startsWith('api-') ? 'api' : 'worker');
      lines.push(line);
    }
  }

  // LOGS_TEST_DUMP=file keeps the lines (the data root is removed after the test).
  if (process.env.LOGS_TEST_DUMP)
    fs.writeFileSync(process.env.LOGS_TEST_DUMP, lines.map((l) => JSON.stringify(l)).join('\n'));
  // Every line about the run carries its runId, and its job where it is about one.
  const aboutRun = lines.filter((l) => l.runId === runId);
  const jobLines = aboutRun.filter((l) => l.process === 'worker');
  for (const job of ['work', 'after']) {
    for (const msg of ['job started', 'job completed']) {
      const line = jobLines.find((l) => l.job === job && l.msg === msg);
      expect(line).toMatchObject({ runId, job, index: 0, attempt: 1, workflow: 't_fault' });
      expect(typeof line?.workerId).toBe('string');
    }
  }
  for (const l of jobLines) expect(typeof l.job).toBe('string');
  // A line that names the run in its words ("run 7: ...") carries it as a field too.
  const named = new RegExp(`\\brun ${runId}\\b`);
  const worded = lines.filter((l) => named.test(l.msg));
  for (const l of worded) expect(l.runId).toBe(runId);

  // One line per request: the given X-Request-Id, the route pattern, the status, the actor.
  expect(created.text).toBeTruthy();
  const post = lines.find((l) => l.reqId === 'logs-test-1');
  expect(post).toMatchObject({
    process: 'api',
    method: 'POST',
    route: '/api/v1/workflows/:name/runs',
    status: 201,
    actor: 'logs-test',
  });
  expect(typeof post?.durationMs).toBe('number');
  const get = lines.find(
    (l) => l.method === 'GET' && l.status === 401 && l.route === '/api/v1/runs/:id',
  );
  expect(get?.reqId).toMatch(/^[0-9a-f-]{36}$/);
  expect(get?.actor).toBeUndefined();
}, 180_000);
