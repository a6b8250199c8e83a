/**
 * Execution end to end, through the real REST API and a real worker: what a
 * user sees when jobs succeed, fail (exit status, SEVERE line, missing
 * output, timeout), are retried, are cancelled, scatter, get hostile
 * parameters, and how the run's events reach them (list and SSE stream).
 *
 * Test-only workflows and a scriptable tool live in test/fixtures; the stack
 * loads them next to the shipped workflows.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack, TOKENS, until } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures');
const TESTTOOL = path.join(FIXTURES, 'tools', 'testtool');

/** Job slots of the one worker (the builtin cancel test fills them all). */
const CONCURRENCY = 8;

let stack: Stack;
let workflowsDir: string;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-exec-workflows-'));
  // The shipped template libraries too (workflows/lib), which shipped workflows include.
  fs.cpSync(path.join(REPO, 'workflows', 'lib'), path.join(workflowsDir, 'lib'), {
    recursive: true,
  });
  for (const dir of [path.join(REPO, 'workflows'), path.join(FIXTURES, 'workflows')]) {
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.yaml')))
      fs.copyFileSync(path.join(dir, f), path.join(workflowsDir, f));
  }
  stack = await startStack({
    env: {
      WFS_WORKFLOWS_DIR: workflowsDir,
      WFS_TOOL_TESTTOOL: TESTTOOL,
      WFS_TOOL_SPANTOOL: path.join(FIXTURES, 'tools', 'spantool'),
      WFS_TOOL_HOSTTOOL: path.join(FIXTURES, 'tools', 'hosttool'),
      WFS_WORKER_CONCURRENCY: String(CONCURRENCY),
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  if (workflowsDir) fs.rmSync(workflowsDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const nonce = () => randomBytes(4).toString('hex');

async function createRun(workflow: string, body: Record<string, unknown>): Promise<any> {
  const res = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, { body, role: 'da' });
  expect(res.status).toBe(201);
  return res.body;
}

/** Every event of a run, following `after` page by page. */
async function allEvents(runId: number): Promise<any[]> {
  const events: any[] = [];
  for (;;) {
    const after = events.length ? events[events.length - 1].sequence : 0;
    const res = await stack.call('GET', `/api/v1/runs/${runId}/events?after=${after}`, {
      role: 'viewer',
    });
    expect(res.status).toBe(200);
    if (res.body.items.length === 0) return events;
    events.push(...res.body.items);
  }
}

/** Every job instance of a run, following nextCursor. */
async function allJobs(runId: number, limit = 100): Promise<any[]> {
  const jobs: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const res = await stack.call('GET', `/api/v1/runs/${runId}/jobs?limit=${limit}${q}`, {
      role: 'viewer',
    });
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    jobs.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (++pages > 1000) throw new Error('pagination does not end');
  } while (cursor);
  return jobs;
}

const jobOf = (run: any, name: string, index = 0) =>
  run.jobs.find((j: any) => j.name === name && j.index === index);

/** No process has this pid any more (kill(pid, 0) fails with ESRCH): exited and reaped. */
function reaped(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
    throw e;
  }
}

/**
 * Whether the process still runs. A zombie (exited, awaiting its reaper)
 * counts as gone: a grandchild orphaned in a container is reaped by its PID 1,
 * which not every PID 1 does promptly.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Processes of a process group that are still running (not zombies). */
function liveGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return members;
}

const EVENT_FIELDS = [
  'messageId',
  'specVersion',
  'type',
  'sequence',
  'occurredAt',
  'runId',
  'requestId',
  'version',
  'workflow',
  'subject',
  'correlationId',
  'state',
  'qaState',
  'archiveState',
  'diskState',
  'processingDir',
  'resultsDir',
  'job',
  'sourceRunId',
  'ingestionRunId',
  'products',
  'error',
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** Checks the contract's event shape and that sequences run 1..n without gaps. */
function expectWellFormedEvents(events: any[], run: any): void {
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
  expect(new Set(events.map((e) => e.messageId)).size).toBe(events.length);
  // occurredAt is not compared across events: it is the writing transaction's
  // start (Postgres now()), which can precede an event numbered before it.
  for (const e of events) {
    expect(Object.keys(e)).toEqual(expect.arrayContaining(EVENT_FIELDS));
    expect(e.messageId).toMatch(UUID);
    expect(e.specVersion).toBe(1);
    expect(e.occurredAt).toMatch(ISO);
    expect(e).toMatchObject({
      runId: run.id,
      requestId: run.requestId,
      version: run.version,
      workflow: run.workflow,
      subject: run.subject,
    });
    if (e.type.startsWith('job-')) {
      expect(e.job).toEqual(
        expect.objectContaining({
          name: expect.any(String),
          index: expect.any(Number),
          state: expect.any(String),
          attempts: expect.any(Number),
        }),
      );
      expect(e.job).toHaveProperty('exitCode');
      expect(e.job).toHaveProperty('statusReason');
    } else {
      expect(e.job).toBeNull();
    }
  }
}

async function getBytes(
  p: string,
): Promise<{ status: number; bytes: Buffer; type: string | null }> {
  const res = await fetch(stack.url + p, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
  return {
    status: res.status,
    bytes: Buffer.from(await res.arrayBuffer()),
    type: res.headers.get('content-type'),
  };
}

interface SseMessage {
  id: string | null;
  event: string | null;
  data: any;
}

/** Opens the run's SSE stream; `messages` resolves when the server ends it. */
async function openStream(
  runId: number,
  headers: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<{ messages: Promise<SseMessage[]> }> {
  const aborter = new AbortController();
  const timer = setTimeout(() => aborter.abort(), timeoutMs);
  const res = await fetch(`${stack.url}/api/v1/runs/${runId}/events/stream`, {
    headers: { authorization: `Bearer ${TOKENS.viewer}`, accept: 'text/event-stream', ...headers },
    signal: aborter.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const messages = (async () => {
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch (e) {
      throw new Error(
        `SSE stream of run ${runId} did not end within ${timeoutMs} ms (${(e as Error).message}); got: ${text.slice(-500)}`,
      );
    } finally {
      clearTimeout(timer);
    }
    const out: SseMessage[] = [];
    for (const block of text.split('\n\n')) {
      const lines = block.split('\n').filter((l) => l && !l.startsWith(':'));
      if (lines.length === 0) continue;
      const field = (name: string) =>
        lines
          .filter((l) => l.startsWith(name + ':'))
          .map((l) => l.slice(name.length + 1).replace(/^ /, ''));
      const data = field('data').join('\n');
      out.push({
        id: field('id')[0] ?? null,
        event: field('event')[0] ?? null,
        data: data ? JSON.parse(data) : null,
      });
    }
    return out;
  })();
  messages.catch(() => undefined); // surfaced when awaited
  return { messages };
}

// ---------------------------------------------------------------- tests

describe('std_calibration', () => {
  test('create, upload PPR.xml, submit, complete: products, QA area, events, logs and files', async () => {
    const subject = `19A-${nonce()}.sb1.eb1`;
    const ppr = Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?>\n<ns2:SciPipeRequest xmlns:ns2="Common/pipelinescience">\n` +
        `  <ProcessingRequests><ProcessingRequest><ProcessingProcedure><RecipeName>hifv</RecipeName></ProcessingProcedure>` +
        `<DataSet><SdmIdentifier>${subject}</SdmIdentifier></DataSet></ProcessingRequest></ProcessingRequests>\n` +
        `  <!-- ${nonce()} -->\n</ns2:SciPipeRequest>\n`,
    );
    const created = await createRun('std_calibration', { subject });
    expect(created).toMatchObject({
      state: 'created',
      subject,
      workflow: 'std_calibration',
      diskState: 'processing',
    });
    const id = created.id;

    const upload = await stack.call('PUT', `/api/v1/runs/${id}/files/PPR.xml`, {
      raw: ppr,
      role: 'da',
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(upload.status).toBe(201);
    expect(upload.body).toEqual({
      name: 'PPR.xml',
      size: ppr.length,
      sha256: sha256(ppr),
      uploadedAt: expect.stringMatching(ISO),
    });

    const submitted = await stack.call('POST', `/api/v1/runs/${id}/submit`, { role: 'da' });
    expect(submitted.status).toBe(202);
    expect(['submitted', 'running', 'complete']).toContain(submitted.body.state);

    const run = await stack.waitForRun(id);
    expect(run.state).toBe('complete');
    expect(run.error).toBeNull();
    expect(run.qaState).toBe('awaiting');
    expect(run.diskState).toBe('qa');
    expect(run.startedAt).toEqual(expect.stringMatching(ISO));
    expect(run.finishedAt).toEqual(expect.stringMatching(ISO));
    expect(run.jobs.map((j: any) => [j.name, j.index, j.state, j.attempts, j.exitCode])).toEqual([
      ['fetch', 0, 'completed', 1, 0],
      ['casa', 0, 'completed', 1, 0],
      ['deliver', 0, 'completed', 1, 0],
    ]);
    expect(run.files).toEqual([upload.body]);

    // The run directory moved to the QA area, products and all.
    const qaRoot = fs.realpathSync(stack.config.qaRoot);
    expect(path.dirname(fs.realpathSync(run.processingDir))).toBe(qaRoot);
    expect(fs.statSync(path.join(run.processingDir, 'products')).isDirectory()).toBe(true);
    expect(
      fs.existsSync(path.join(stack.config.processingRoot, path.basename(run.processingDir))),
    ).toBe(false);
    for (const product of ['weblog.tgz', 'casa_pipescript.py', 'PPR.xml']) {
      expect(fs.existsSync(path.join(run.processingDir, 'products', product))).toBe(true);
    }
    const used = JSON.parse(
      fs.readFileSync(path.join(run.processingDir, 'products', 'inputs_used.json'), 'utf8'),
    );
    expect(used['PPR.xml']).toMatchObject({ sha256: sha256(ppr), size: ppr.length });

    // Events: gapless, in order, contract-shaped, telling the story.
    const events = await allEvents(id);
    expectWellFormedEvents(events, run);
    expect(events.map((e) => (e.job ? `${e.type}:${e.job.name}` : e.type))).toEqual([
      'created',
      'submitted',
      'running',
      'job-started:fetch',
      'job-completed:fetch',
      'job-started:casa',
      'job-completed:casa',
      'job-started:deliver',
      'job-completed:deliver',
      'complete',
    ]);
    const last = events[events.length - 1];
    expect(last).toMatchObject({
      state: 'complete',
      qaState: 'awaiting',
      diskState: 'qa',
      processingDir: run.processingDir,
      error: null,
    });
    expect(events[0]).toMatchObject({ state: 'created', diskState: 'processing' });
    const after = await stack.call('GET', `/api/v1/runs/${id}/events?after=7`, { role: 'viewer' });
    expect(after.body.items.map((e: any) => e.sequence)).toEqual([8, 9, 10]);

    // The job's stdout, through the API and on disk.
    const log = await stack.call('GET', `/api/v1/runs/${id}/jobs/casa/0/log`, { role: 'viewer' });
    expect(log.status).toBe(200);
    expect(log.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(log.text).toContain('--- casa[0] attempt 1');
    expect(log.text).toContain(`Executing pipeline recipe hifv for ${subject}`);
    expect(log.text).toBe(
      fs.readFileSync(path.join(run.processingDir, 'logs', 'casa.0.stdout.log'), 'utf8'),
    );
    const tail = await stack.call('GET', `/api/v1/runs/${id}/jobs/casa/0/log?tail=1`, {
      role: 'viewer',
    });
    expect(tail.text.trimEnd().split('\n')).toHaveLength(1);
    expect(log.text.trimEnd().endsWith(tail.text.trimEnd())).toBe(true);

    // The uploaded file is still served (from the run's new place).
    const file = await getBytes(`/api/v1/runs/${id}/files/PPR.xml`);
    expect(file.status).toBe(200);
    expect(file.bytes.equals(ppr)).toBe(true);
    const list = await stack.call('GET', `/api/v1/runs/${id}/files`, { role: 'viewer' });
    expect(list.body).toEqual({ items: [upload.body] });
  });

  test('CASA exits non-zero: run failed with exit_code naming casa; deliver skipped', async () => {
    const created = await createRun('std_calibration', {
      subject: `19A-${nonce()}.SIMFAIL-EXIT3`,
      submit: true,
    });
    const run = await stack.waitForRun(created.id);
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('exit_code');
    expect(run.error.message).toMatch(/\bcasa\b/);
    expect(run.error.message).toMatch(/\b3\b/);
    expect(jobOf(run, 'fetch')).toMatchObject({ state: 'completed', exitCode: 0 });
    expect(jobOf(run, 'casa')).toMatchObject({
      state: 'failed',
      exitCode: 3,
      attempts: 1,
      statusReason: expect.stringContaining('exit_code'),
    });
    expect(jobOf(run, 'deliver')).toMatchObject({ state: 'skipped', attempts: 0 });
    expect(run.diskState).toBe('processing');
    expect(run.qaState).not.toBe('awaiting');
    expect(path.dirname(run.processingDir)).toBe(stack.config.processingRoot);

    const events = await allEvents(created.id);
    expectWellFormedEvents(events, run);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['job-failed', 'failed']);
    expect(events[events.length - 2].job).toMatchObject({
      name: 'casa',
      state: 'failed',
      exitCode: 3,
    });
    expect(events[events.length - 1].error).toEqual(run.error);
    expect(events.some((e) => e.job?.name === 'deliver')).toBe(false);
  });

  test('CASA writes a SEVERE line and exits 0: run failed with severe_in_log quoting the line', async () => {
    const created = await createRun('std_calibration', {
      subject: `19A-${nonce()}.SIMFAIL-SEVERE`,
      submit: true,
    });
    const run = await stack.waitForRun(created.id);
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('severe_in_log');
    expect(run.error.message).toMatch(/\bcasa\b/);
    const working = path.join(run.processingDir, 'working');
    const severe = fs
      .readdirSync(working)
      .filter((f) => /^casa.*\.log$/.test(f))
      .flatMap((f) => fs.readFileSync(path.join(working, f), 'utf8').split('\n'))
      .find((l) => /\tSEVERE\s/.test(l));
    expect(severe).toBeDefined();
    expect(run.error.message).toContain((severe as string).trim());
    expect(jobOf(run, 'casa')).toMatchObject({ state: 'failed', exitCode: 0 });
    expect(jobOf(run, 'deliver').state).toBe('skipped');
  });
});

describe('job outcomes (fixture workflows)', () => {
  test('jobs named like SQL words ("null", "select") run, scatter and gather', async () => {
    const created = await createRun('t_names', { submit: true });
    const run = await stack.waitForRun(created.id);
    expect(run.state).toBe('complete');
    expect(
      run.jobs.map((j: { name: string; index: number; state: string }) => [
        j.name,
        j.index,
        j.state,
      ]),
    ).toEqual([
      ['null', 0, 'completed'],
      ['null', 1, 'completed'],
      ['select', 0, 'completed'],
    ]);
  });

  test('a declared output missing after exit 0: missing_output naming it', async () => {
    const created = await createRun('t_outputs', { submit: true });
    const run = await stack.waitForRun(created.id);
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('missing_output');
    expect(run.error.message).toContain('make');
    expect(run.error.message).toContain('working/absent.txt');
    expect(run.error.message).not.toContain('present.txt');
    expect(fs.readFileSync(path.join(run.processingDir, 'working', 'present.txt'), 'utf8')).toBe(
      'here',
    );
    expect(jobOf(run, 'make')).toMatchObject({
      state: 'failed',
      exitCode: 0,
      attempts: 1,
      statusReason: expect.stringContaining('missing_output'),
    });
    expect(jobOf(run, 'after').state).toBe('skipped');
  });

  test('a job over its timeout is killed with its process group: timeout', async () => {
    const t0 = Date.now();
    const created = await createRun('t_timeout', { submit: true });
    const run = await stack.waitForRun(created.id, undefined, 15_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('timeout');
    expect(run.error.message).toContain('slow');
    expect(jobOf(run, 'slow')).toMatchObject({
      state: 'failed',
      attempts: 1,
      statusReason: expect.stringContaining('timeout'),
    });

    const working = path.join(run.processingDir, 'working');
    const pid = Number(fs.readFileSync(path.join(working, 'slow.pid'), 'utf8'));
    const child = Number(fs.readFileSync(path.join(working, 'child.pid'), 'utf8'));
    const [row] = await stack.db.query<{ pid: number | null }>(
      'SELECT pid FROM jobs WHERE run_id = $1 AND name = $2',
      [created.id, 'slow'],
    );
    expect(Number(row?.pid)).toBe(pid);
    await until(
      'the timed-out process and its child to be gone',
      () => reaped(pid) && !alive(child) && liveGroupMembers(pid).length === 0,
      6_000,
    );
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  test('retries with backoff: fails twice, then succeeds on attempt 3', async () => {
    const created = await createRun('t_retry', {
      parameters: { failures: 2, code: 1 },
      submit: true,
    });
    const run = await stack.waitForRun(created.id);
    expect(run.state).toBe('complete');
    expect(run.error).toBeNull();
    expect(jobOf(run, 'flaky')).toMatchObject({
      state: 'completed',
      attempts: 3,
      exitCode: 0,
      statusReason: null,
    });
    expect(jobOf(run, 'after')).toMatchObject({ state: 'completed', attempts: 1 });
    expect(fs.readFileSync(path.join(run.processingDir, 'working', 'flaky.count'), 'utf8')).toBe(
      '3',
    );

    const events = await allEvents(created.id);
    expectWellFormedEvents(events, run);
    const flaky = events.filter((e) => e.job?.name === 'flaky');
    expect(flaky.map((e) => `${e.type}#${e.job.attempts}`)).toEqual([
      'job-started#1',
      'job-retrying#1',
      'job-started#2',
      'job-retrying#2',
      'job-started#3',
      'job-completed#3',
    ]);
    expect(flaky[1].job).toMatchObject({
      state: 'idle',
      exitCode: 1,
      statusReason: expect.stringContaining('exit_code'),
    });
    // Backoff 0.2 s, doubling: the next attempt starts no sooner than that after the retry was decided.
    const gap = (a: any, b: any) => Date.parse(b.occurredAt) - Date.parse(a.occurredAt);
    expect(gap(flaky[1], flaky[2])).toBeGreaterThanOrEqual(190);
    expect(gap(flaky[3], flaky[4])).toBeGreaterThanOrEqual(390);

    // Every attempt's output is kept in the job's log.
    const log = await stack.call('GET', `/api/v1/runs/${created.id}/jobs/flaky/0/log`, {
      role: 'viewer',
    });
    expect(log.text.match(/^--- flaky\[0\] attempt \d/gm)).toEqual([
      '--- flaky[0] attempt 1',
      '--- flaky[0] attempt 2',
      '--- flaky[0] attempt 3',
    ]);
    expect(log.text).toMatch(/attempt 1\n[\s\S]*attempt 2\n[\s\S]*attempt 3\n/);
  });

  test('retries exhausted: failed after 1 + retries attempts', async () => {
    const created = await createRun('t_retry', {
      parameters: { failures: 10, code: 4 },
      submit: true,
    });
    const run = await stack.waitForRun(created.id);
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('exit_code');
    expect(jobOf(run, 'flaky')).toMatchObject({ state: 'failed', attempts: 3, exitCode: 4 });
    expect(jobOf(run, 'after').state).toBe('skipped');
    const types = (await allEvents(created.id)).map((e) => e.type);
    expect(types.filter((t) => t === 'job-retrying')).toHaveLength(2);
  });

  test('retryUnlessExit: exit 7 is not retried', async () => {
    const created = await createRun('t_retry', {
      parameters: { failures: 10, code: 7 },
      submit: true,
    });
    const run = await stack.waitForRun(created.id);
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('exit_code');
    expect(run.error.message).toContain('flaky');
    expect(jobOf(run, 'flaky')).toMatchObject({ state: 'failed', attempts: 1, exitCode: 7 });
    expect(fs.readFileSync(path.join(run.processingDir, 'working', 'flaky.count'), 'utf8')).toBe(
      '1',
    );
    const events = await allEvents(created.id);
    expect(events.some((e) => e.type === 'job-retrying')).toBe(false);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['job-failed', 'failed']);
  });
});

describe('cancel', () => {
  test('cancelling a running job stops its process group; a second cancel is 409', async () => {
    const created = await createRun('t_cancel', { submit: true });
    const id = created.id;
    const pid = await until('the job pid to be recorded', async () => {
      const [row] = await stack.db.query<{ pid: number | null; state: string }>(
        "SELECT pid, state FROM jobs WHERE run_id = $1 AND name = 'sleeper'",
        [id],
      );
      return row?.state === 'running' && row.pid ? Number(row.pid) : null;
    });
    const running = await stack.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' });
    expect(running.body.state).toBe('running');
    expect(jobOf(running.body, 'sleeper')).toMatchObject({ state: 'running', attempts: 1 });
    const working = path.join(running.body.processingDir, 'working');
    const child = await until('the child pid file', () => {
      const f = path.join(working, 'child.pid');
      return fs.existsSync(f) && fs.readFileSync(f, 'utf8')
        ? Number(fs.readFileSync(f, 'utf8'))
        : null;
    });
    expect(Number(fs.readFileSync(path.join(working, 'sleeper.pid'), 'utf8'))).toBe(pid);
    expect(alive(pid)).toBe(true);
    expect(alive(child)).toBe(true);

    const t0 = Date.now();
    const cancel = await stack.call('POST', `/api/v1/runs/${id}/cancel`, { role: 'da' });
    expect(cancel.status).toBe(202);
    expect(cancel.body.state).toBe('cancelled');
    expect(cancel.body.error).toMatchObject({ code: 'cancelled' });

    // The job's process is the worker's child: the worker reaps it, so it must vanish entirely.
    await until('the cancelled process to be gone', () => reaped(pid), 5_000);
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    await until(
      'its process group to be gone',
      () => !alive(child) && liveGroupMembers(pid).length === 0,
      5_000,
    );
    expect(Date.now() - t0).toBeLessThan(5_000);

    const run = await stack.waitForRun(id);
    expect(run.state).toBe('cancelled');
    expect(run.finishedAt).toEqual(expect.stringMatching(ISO));
    expect(jobOf(run, 'sleeper')).toMatchObject({ state: 'removed', statusReason: 'cancelled' });
    expect(jobOf(run, 'after')).toMatchObject({ state: 'removed', attempts: 0 });

    // The worker's late report of the killed process changes nothing.
    await sleep(300);
    const events = await allEvents(id);
    expectWellFormedEvents(events, run);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['job-failed', 'cancelled']);
    expect(events[events.length - 2].job).toMatchObject({
      name: 'sleeper',
      state: 'removed',
      statusReason: 'cancelled',
    });
    expect((await stack.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' })).body.state).toBe(
      'cancelled',
    );

    const again = await stack.call('POST', `/api/v1/runs/${id}/cancel`, { role: 'da' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: expect.stringMatching(/^[A-Z][A-Z0-9_]*$/),
      message: expect.any(String),
    });
    expect(again.body.error.details.state).toBe('cancelled');
    expect((await allEvents(id)).length).toBe(events.length);
  });
});

describe('cancel std_calibration while CASA runs', () => {
  test('the CASA simulator is stopped (SIGTERM) and the run is cancelled', async () => {
    const created = await createRun('std_calibration', {
      subject: `19A-${nonce()}.SIMSLOW-60`,
      submit: true,
    });
    const id = created.id;
    const pid = await until('the casa pid to be recorded', async () => {
      const rows = await stack.db.query<{ pid: number | null }>(
        "SELECT pid FROM jobs WHERE run_id = $1 AND name = 'casa' AND state = 'running'",
        [id],
      );
      return rows[0]?.pid ? Number(rows[0].pid) : null;
    });
    const running = await stack.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' });
    const working = path.join(running.body.processingDir, 'working');
    // Cancel once CASA has started its log (so its SIGTERM handler is in place).
    await until('the CASA log', () => fs.readdirSync(working).some((f) => /^casa.*\.log$/.test(f)));
    const cancel = await stack.call('POST', `/api/v1/runs/${id}/cancel`, { role: 'da' });
    expect(cancel.status).toBe(202);
    await until('casa to be gone', () => reaped(pid) && liveGroupMembers(pid).length === 0, 5_000);
    const run = await stack.waitForRun(id);
    expect(run.state).toBe('cancelled');
    expect(run.error).toMatchObject({ code: 'cancelled' });
    expect(jobOf(run, 'fetch').state).toBe('completed');
    expect(jobOf(run, 'casa')).toMatchObject({ state: 'removed', statusReason: 'cancelled' });
    expect(jobOf(run, 'deliver')).toMatchObject({ state: 'removed', attempts: 0 });
    expect(run.diskState).toBe('processing');
    const log = await until('the SIGTERM line in the casa log', async () => {
      const text = (
        await stack.call('GET', `/api/v1/runs/${id}/jobs/casa/0/log`, { role: 'viewer' })
      ).text;
      return text.includes('Received SIGTERM') ? text : null;
    });
    expect(log).toContain('pipeline aborted');
  });
});

describe('builtin steps (in-process)', () => {
  test('a builtin step over its timeout is stopped: timeout', async () => {
    const t0 = Date.now();
    const created = await createRun('t_builtin_timeout', { submit: true });
    const run = await stack.waitForRun(created.id, undefined, 15_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('timeout');
    expect(run.error.message).toContain('busy');
    expect(jobOf(run, 'busy')).toMatchObject({
      state: 'failed',
      attempts: 1,
      statusReason: expect.stringContaining('timeout'),
    });
  });

  test('cancel stops running builtin steps: the worker slots they held are free at once', async () => {
    const busy = await createRun('t_builtin_busy', {
      parameters: { n: CONCURRENCY, seconds: 60 },
      submit: true,
    });
    await until('every worker slot to be busy', async () => {
      const jobs = await allJobs(busy.id);
      return jobs.filter((j) => j.state === 'running').length === CONCURRENCY;
    });
    const cancel = await stack.call('POST', `/api/v1/runs/${busy.id}/cancel`, { role: 'da' });
    expect(cancel.status).toBe(202);
    expect(cancel.body.state).toBe('cancelled');

    // Another run gets a worker slot promptly, not after the 60 s of work.
    const next = await createRun('t_retry', { parameters: { failures: 0, code: 1 }, submit: true });
    const run = await stack.waitForRun(next.id, undefined, 8_000);
    expect(run.state).toBe('complete');

    const cancelled = await stack.waitForRun(busy.id);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.jobs.map((j: any) => j.state)).toEqual(Array(CONCURRENCY).fill('removed'));
    const events = await allEvents(busy.id);
    expect(events.filter((e) => e.type === 'job-failed')).toHaveLength(CONCURRENCY);
    expect(events[events.length - 1].type).toBe('cancelled');
  });
});

describe('scatter', () => {
  test('200 instances complete; the gather job starts once, after all of them', async () => {
    const n = 200;
    const created = await createRun('t_scatter', { parameters: { n }, submit: true });
    const run = await stack.waitForRun(created.id, undefined, 30_000);
    expect(run.state).toBe('complete');

    const jobs = await allJobs(created.id, 64);
    expect(jobs).toHaveLength(n + 2);
    expect(jobs[0]).toMatchObject({ name: 'prep', index: 0 });
    expect(jobs[jobs.length - 1]).toMatchObject({ name: 'gather', index: 0 });
    const work = jobs.filter((j) => j.name === 'work');
    expect(work.map((j) => j.index)).toEqual(Array.from({ length: n }, (_, i) => i));
    for (const j of jobs) expect(j).toMatchObject({ state: 'completed', attempts: 1, exitCode: 0 });

    const events = await allEvents(created.id);
    expectWellFormedEvents(events, run);
    const at = (type: string, name: string) =>
      events.filter((e) => e.type === type && e.job?.name === name);
    const workDone = at('job-completed', 'work');
    expect(new Set(workDone.map((e) => e.job.index)).size).toBe(n);
    expect(workDone).toHaveLength(n);
    const gatherStarted = at('job-started', 'gather');
    expect(gatherStarted).toHaveLength(1);
    const lastWork = Math.max(...workDone.map((e) => e.sequence));
    expect(gatherStarted[0].sequence).toBeGreaterThan(lastWork);
    const firstWork = Math.min(...at('job-started', 'work').map((e) => e.sequence));
    expect(firstWork).toBeGreaterThan(at('job-completed', 'prep')[0].sequence);
    expect(events[events.length - 1].type).toBe('complete');
  });
});

describe('radps_skeleton', () => {
  test('the shipped scatter workflow completes: 68 instances for nField 1, nSpw 3, nScan 4', async () => {
    const created = await createRun('radps_skeleton', {
      parameters: { nField: 1, nSpw: 3, nScan: 4 },
      submit: true,
    });
    const run = await stack.waitForRun(created.id, undefined, 30_000);
    expect(run.state).toBe('complete');
    expect(run.qaState).toBe('not_required');
    const jobs = await allJobs(created.id, 50);
    expect(jobs).toHaveLength(68);
    expect(jobs.every((j) => j.state === 'completed' && j.attempts === 1)).toBe(true);
    const count = (name: string) => jobs.filter((j) => j.name === name).length;
    expect([
      count('import_target'),
      count('calibrate_target'),
      count('contsub_target'),
      count('applycal_calibrators'),
    ]).toEqual([12, 12, 3, 6]);
    // Each checkpoint starts after every instance of the job it needs has completed.
    const events = await allEvents(created.id);
    expectWellFormedEvents(events, run);
    for (const [checkpoint, needed] of [
      ['checkpoint_calibration', 'export_calibrator_images'],
      ['checkpoint_imaging_prep', 'contsub_target'],
      ['checkpoint_imaging', 'export_target_images'],
    ]) {
      const started = events.filter((e) => e.type === 'job-started' && e.job.name === checkpoint);
      expect(started).toHaveLength(1);
      const done = events
        .filter((e) => e.type === 'job-completed' && e.job.name === needed)
        .map((e) => e.sequence);
      expect(done).toHaveLength(count(needed as string));
      expect(started[0].sequence).toBeGreaterThan(Math.max(...done));
    }
  });
});

describe('parameters are never interpreted by a shell', () => {
  test('metacharacters reach the tool as literal argv elements', async () => {
    const tag = nonce();
    const canary = fs.mkdtempSync(path.join(os.tmpdir(), `wfs-canary-${tag}-`));
    fs.writeFileSync(path.join(canary, 'keep'), 'keep');
    const pwned = path.join(os.tmpdir(), `pwned-${tag}`);
    const pwned2 = path.join(os.tmpdir(), `pwned2-${tag}`);
    const params = {
      a: `; rm -rf ${canary}`,
      b: `$(touch ${pwned})`,
      c: `\`touch ${pwned2}\` && echo "quoted" 'single' | cat > /dev/null * ~ \n second line`,
    };
    try {
      const created = await createRun('t_argv', { parameters: params, submit: true });
      const run = await stack.waitForRun(created.id);
      expect(run.state).toBe('complete');
      expect(run.parameters).toEqual(params);
      const argv = JSON.parse(
        fs.readFileSync(path.join(run.processingDir, 'working', 'argv.json'), 'utf8'),
      );
      expect(argv).toEqual([
        'argv',
        'argv.json',
        'literal',
        params.a,
        'literal',
        params.b,
        'literal',
        `x${params.c}y`,
      ]);
      expect(fs.existsSync(pwned)).toBe(false);
      expect(fs.existsSync(pwned2)).toBe(false);
      expect(fs.readFileSync(path.join(canary, 'keep'), 'utf8')).toBe('keep');
    } finally {
      fs.rmSync(canary, { recursive: true, force: true });
      fs.rmSync(pwned, { force: true });
      fs.rmSync(pwned2, { force: true });
    }
  });
});

describe('SSE event stream', () => {
  test('delivers the run live with id = sequence, ends after the terminal event, resumes after Last-Event-ID', async () => {
    const created = await createRun('t_retry', { parameters: { failures: 0, code: 1 } });
    const id = created.id;
    const live = await openStream(id);
    const submit = await stack.call('POST', `/api/v1/runs/${id}/submit`, { role: 'da' });
    expect(submit.status).toBe(202);
    const messages = await live.messages;
    const run = await stack.waitForRun(id);
    expect(run.state).toBe('complete');
    const events = await allEvents(id);

    expect(messages.map((m) => m.data)).toEqual(events);
    expect(messages.map((m) => m.id)).toEqual(events.map((e) => String(e.sequence)));
    expect(messages.map((m) => m.event)).toEqual(events.map((e) => e.type));
    expect(messages[0].data.type).toBe('created');
    expect(messages[messages.length - 1].data.type).toBe('complete');
    expectWellFormedEvents(
      messages.map((m) => m.data),
      run,
    );

    // Resuming: only what came after the given sequence, then the end.
    const resumed = await (await openStream(id, { 'last-event-id': '3' })).messages;
    expect(resumed.map((m) => Number(m.id))).toEqual(
      events.filter((e) => e.sequence > 3).map((e) => e.sequence),
    );
    expect(resumed.map((m) => m.data)).toEqual(events.slice(3));

    // Resuming after the terminal event: nothing more, and the stream still ends.
    const atEnd = await (
      await openStream(id, { 'last-event-id': String(events.length) }, 10_000)
    ).messages;
    expect(atEnd).toEqual([]);
  });

  test('the stream needs a token and a known run', async () => {
    const noToken = await fetch(`${stack.url}/api/v1/runs/1/events/stream`);
    expect(noToken.status).toBe(401);
    await noToken.body?.cancel();
    const unknown = await stack.call('GET', '/api/v1/runs/99999999/events/stream', {
      role: 'viewer',
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toEqual(expect.any(String));
  });
});
