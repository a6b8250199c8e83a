/**
 * The audit log (CONTRACT 5.6, 5.8, 5.9): every call that changes something,
 * accepted or refused, and every 401/403 is one row with its actor, target,
 * outcome and what was asked; the events a person caused carry the actor;
 * `GET /api/v1/audit` filters and pages; the database refuses to change a
 * row, also for the service's own role; no row or response holds a token's
 * secret; `wfs audit` prints the log. On the real Postgres, Redis and RabbitMQ.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { METHOD_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { auditSpecOf } from '@wfs/audit';
import { startStack, Stack, TOKENS, until, wfs } from '@wfs/testing';
import { ApiModule } from '../apps/api/src/api.module';
import { loadConfig } from '@wfs/config';

const REPO = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures');

let stack: Stack;
let workflowsDir: string;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-audit-workflows-'));
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  for (const f of ['t_gate', 't_cancel'])
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

type Role = keyof typeof TOKENS;
type Call = { status: number; body: any; text: string };

const audit = async (query = ''): Promise<any[]> => {
  const r = await stack.call('GET', `/api/v1/audit?limit=500${query ? `&${query}` : ''}`, {
    role: 'ops',
  });
  expect(r.status).toBe(200);
  return r.body.items;
};
const events = async (id: number) =>
  (await stack.call('GET', `/api/v1/runs/${id}/events?limit=1000`, { role: 'viewer' })).body
    .items as any[];
const run = async (id: number) =>
  (await stack.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' })).body;
const job = async (id: number, name: string) =>
  (
    await stack.call('GET', `/api/v1/runs/${id}/jobs?limit=100`, { role: 'viewer' })
  ).body.items.find((j: any) => j.name === name);

/** Every call of the story, with what its row must say. */
const made: Array<{ action: string; role: Role; res: Call; target: Record<string, unknown> }> = [];
async function act(
  action: string,
  role: Role,
  method: string,
  url: string,
  target: Record<string, unknown>,
  opts: { body?: unknown; raw?: Buffer; headers?: Record<string, string> } = {},
): Promise<Call> {
  const res = await stack.call(method, url, { role, ...opts });
  made.push({ action, role, res, target });
  return res;
}

/** The one row of a call: the newest of its action and target whose status is the call's. */
async function rowOf(action: string, target: Record<string, unknown>, status: number) {
  const rows = await audit(`action=${action}`);
  return rows.find(
    (r) =>
      r.outcome.status === status && Object.entries(target).every(([k, v]) => r.target[k] === v),
  );
}

let runA: number; // std_calibration: create, upload, submit, qa, ingest, cleanup
let runB: number; // std_calibration: rerun, reject
let runC: number; // t_cancel: priority, hold, release, cancel, resume
let runG: number; // t_gate: gate-approve, gate-reject

describe('every change is one row', () => {
  test('the calls of a day, accepted, each with its actor, target, outcome and what was asked', async () => {
    const created = await act(
      'create',
      'da',
      'POST',
      '/api/v1/workflows/std_calibration/runs',
      {
        workflow: 'std_calibration',
      },
      { body: { subject: `24A-${Date.now()}.sb1.eb1`, submit: false } },
    );
    expect(created.status).toBe(201);
    runA = created.body.id;
    made[made.length - 1]!.target.runId = runA;
    const upload = await act(
      'upload',
      'da',
      'PUT',
      `/api/v1/runs/${runA}/files/PPR.xml`,
      { runId: runA },
      {
        raw: Buffer.from('<SciPipeRequest><RecipeName>hifv</RecipeName></SciPipeRequest>\n'),
        headers: { 'content-type': 'application/octet-stream' },
      },
    );
    expect(upload.status).toBe(201);
    expect(
      (await act('submit', 'da', 'POST', `/api/v1/runs/${runA}/submit`, { runId: runA })).status,
    ).toBe(202);

    const createdB = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
      role: 'da',
      body: { subject: `24A-${Date.now()}.sb2.eb1`, submit: true },
    });
    runB = createdB.body.id;
    const createdC = await stack.call('POST', '/api/v1/workflows/t_cancel/runs', {
      role: 'da',
      body: { submit: true },
    });
    runC = createdC.body.id;
    const createdG = await stack.call('POST', '/api/v1/workflows/t_gate/runs', {
      role: 'da',
      body: { submit: true },
    });
    runG = createdG.body.id;

    // Scheduling controls, by ops, while t_cancel's sleeper runs and its `after` waits.
    await until('t_cancel running', async () => (await job(runC, 'sleeper'))?.state === 'running');
    expect(
      (
        await act(
          'priority',
          'ops',
          'PATCH',
          `/api/v1/runs/${runC}`,
          { runId: runC },
          {
            body: { priority: 70 },
          },
        )
      ).status,
    ).toBe(200);
    expect(
      (
        await act(
          'hold',
          'ops',
          'POST',
          `/api/v1/runs/${runC}/jobs/after/0/hold`,
          {
            runId: runC,
            job: 'after',
            index: 0,
          },
          { body: { reason: 'disk check' } },
        )
      ).status,
    ).toBe(200);
    expect(
      (
        await act('release', 'ops', 'POST', `/api/v1/runs/${runC}/jobs/after/0/release`, {
          runId: runC,
          job: 'after',
          index: 0,
        })
      ).status,
    ).toBe(200);
    expect(
      (await act('cancel', 'da', 'POST', `/api/v1/runs/${runC}/cancel`, { runId: runC })).status,
    ).toBe(202);
    await stack.waitForRun(runC, ['cancelled']);
    expect(
      (await act('resume', 'da', 'POST', `/api/v1/runs/${runC}/resume`, { runId: runC })).status,
    ).toBe(202);
    await stack.call('POST', `/api/v1/runs/${runC}/cancel`, { role: 'da' });

    expect(
      (
        await act(
          'pause',
          'ops',
          'POST',
          '/api/v1/workflows/std_imaging/pause',
          {
            workflow: 'std_imaging',
          },
          { body: { reason: 'archive maintenance' } },
        )
      ).status,
    ).toBe(200);
    expect(
      (
        await act('unpause', 'ops', 'POST', '/api/v1/workflows/std_imaging/unpause', {
          workflow: 'std_imaging',
        })
      ).status,
    ).toBe(200);
    expect(
      (await act('limit-set', 'ops', 'PUT', '/api/v1/limits/lustre-io', {}, { body: { max: 4 } }))
        .status,
    ).toBe(200);
    expect(
      (await act('limit-delete', 'ops', 'DELETE', '/api/v1/limits/lustre-io', {})).status,
    ).toBe(204);
    const token = await act(
      'token-create',
      'ops',
      'POST',
      '/api/v1/tokens',
      {},
      {
        body: { name: 'audit-bot', role: 'viewer' },
      },
    );
    expect(token.status).toBe(201);
    expect(
      (await act('token-revoke', 'ops', 'DELETE', `/api/v1/tokens/${token.body.id}`, {})).status,
    ).toBe(204);

    // The gates: approved by a da, the sign-off rejected by ops.
    await until('review waiting', async () =>
      (await run(runG)).waiting?.some((w: any) => w.job === 'review'),
    );
    expect(
      (
        await act(
          'gate-approve',
          'da',
          'POST',
          `/api/v1/runs/${runG}/gates/review/approve`,
          {
            runId: runG,
            job: 'review',
          },
          { body: { comment: 'bandpass fine', parameters: { robust: -1 } } },
        )
      ).status,
    ).toBe(200);
    await until(
      'signoff waiting',
      async () => (await run(runG)).waiting?.some((w: any) => w.job === 'signoff'),
      30_000,
    );
    expect(
      (
        await act(
          'gate-reject',
          'ops',
          'POST',
          `/api/v1/runs/${runG}/gates/signoff/reject`,
          {
            runId: runG,
            job: 'signoff',
          },
          { body: { comment: 'flux scale off' } },
        )
      ).status,
    ).toBe(200);

    // The DA operations on finished calibrations.
    expect((await stack.waitForRun(runA)).state).toBe('complete');
    expect((await stack.waitForRun(runB)).state).toBe('complete');
    const rerun = await act(
      'rerun',
      'da',
      'POST',
      `/api/v1/runs/${runB}/rerun`,
      { runId: runB },
      {
        body: { submit: false },
      },
    );
    expect(rerun.status).toBe(201);
    expect(
      (
        await act(
          'reject',
          'da',
          'POST',
          `/api/v1/runs/${runB}/reject`,
          { runId: runB },
          {
            body: { analyst: 'jdoe', comments: 'RFI everywhere' },
          },
        )
      ).status,
    ).toBe(200);
    expect(
      (
        await act(
          'qa',
          'da',
          'POST',
          `/api/v1/runs/${runA}/qa`,
          { runId: runA },
          {
            body: { status: 'pass', analyst: 'jdoe', comments: 'looks good' },
          },
        )
      ).status,
    ).toBe(200);
    const ingest = await act(
      'ingest',
      'da',
      'POST',
      `/api/v1/runs/${runA}/ingest`,
      { runId: runA },
      {
        body: { qa: 'pass', analyst: 'jdoe' },
      },
    );
    expect(ingest.status).toBe(202);
    await until('ingested', async () => (await run(runA)).archiveState === 'ingested', 60_000);
    expect(
      (await act('cleanup', 'da', 'POST', `/api/v1/runs/${runA}/cleanup`, { runId: runA })).status,
    ).toBe(200);

    // Each call is exactly one row saying who, what, on what, and how it ended.
    const actions = new Set(made.map((m) => m.action));
    for (const a of [
      'create',
      'upload',
      'submit',
      'cancel',
      'rerun',
      'qa',
      'ingest',
      'reject',
      'cleanup',
      'resume',
      'gate-approve',
      'gate-reject',
      'hold',
      'release',
      'pause',
      'unpause',
      'limit-set',
      'limit-delete',
      'priority',
      'token-create',
      'token-revoke',
    ])
      expect(actions).toContain(a);
    for (const m of made) {
      const row = await rowOf(m.action, m.target, m.res.status);
      expect({ action: m.action, row }).toMatchObject({
        action: m.action,
        row: {
          actor: { token: `${m.role}-token`, role: m.role },
          target: m.target,
          outcome: { status: m.res.status },
          remote: { ip: expect.stringMatching(/127\.0\.0\.1/), userAgent: expect.any(String) },
        },
      });
      expect(row.outcome.code).toBeUndefined();
    }
    // What was asked is in the details.
    expect(await rowOf('qa', { runId: runA }, 200)).toMatchObject({
      details: { status: 'pass', analyst: 'jdoe', comments: 'looks good' },
    });
    expect(await rowOf('gate-approve', { runId: runG }, 200)).toMatchObject({
      details: { comment: 'bandpass fine', parameters: { robust: -1 } },
    });
    expect(await rowOf('hold', { runId: runC }, 200)).toMatchObject({
      details: { reason: 'disk check' },
    });
    expect(await rowOf('priority', { runId: runC }, 200)).toMatchObject({
      details: { priority: 70 },
    });
    expect(await rowOf('limit-set', {}, 200)).toMatchObject({
      details: { name: 'lustre-io', max: 4 },
    });
    expect(await rowOf('upload', { runId: runA }, 201)).toMatchObject({
      details: { filename: 'PPR.xml' },
    });
    expect(await rowOf('rerun', { runId: runB }, 201)).toMatchObject({
      details: { submit: false, newRunId: rerun.body.id },
    });
    expect(await rowOf('ingest', { runId: runA }, 202)).toMatchObject({
      details: { qa: 'pass', analyst: 'jdoe', ingestionRunId: ingest.body.ingestionRun.id },
    });
    expect(await rowOf('token-create', {}, 201)).toMatchObject({
      details: { name: 'audit-bot', role: 'viewer', tokenId: token.body.id },
    });
    // One row per call: as many rows of these actions as calls made.
    // (Besides the calls above: the creates of runs B, C and G, and the second cancel of C.)
    const extra: Record<string, number> = { create: 3, cancel: 1 };
    const all = await audit();
    for (const a of actions)
      expect([a, all.filter((r) => r.action === a).length]).toEqual([
        a,
        made.filter((m) => m.action === a).length + (extra[a] ?? 0),
      ]);
  });

  test('the events a person caused carry who it was', async () => {
    const da = { name: 'da-token', role: 'da' };
    const ops = { name: 'ops-token', role: 'ops' };
    const of = async (id: number, type: string) =>
      (await events(id)).filter((e) => e.type === type);
    // The QA call's and the ingest's.
    const qaSet = await of(runA, 'qa-set');
    expect(qaSet).toHaveLength(2);
    expect(qaSet.map((e) => e.actor)).toEqual([da, da]);
    expect(await of(runA, 'cleaned')).toEqual([expect.objectContaining({ actor: da })]);
    expect(await of(runB, 'rejected')).toEqual([expect.objectContaining({ actor: da })]);
    expect((await of(runC, 'cancelled'))[0]).toMatchObject({ actor: da });
    expect(await of(runC, 'resumed')).toEqual([expect.objectContaining({ actor: da })]);
    expect(await of(runC, 'job-held')).toEqual([expect.objectContaining({ actor: ops })]);
    expect(await of(runC, 'job-released')).toEqual([expect.objectContaining({ actor: ops })]);
    expect(await of(runG, 'gate-approved')).toEqual([expect.objectContaining({ actor: da })]);
    expect(await of(runG, 'gate-rejected')).toEqual([expect.objectContaining({ actor: ops })]);
  });
});

describe('refused calls and denials', () => {
  test('a 409 and a 400 are rows with the status and the error code', async () => {
    const again = await stack.call('POST', `/api/v1/runs/${runA}/submit`, { role: 'da' });
    expect(again.status).toBe(409);
    expect(await rowOf('submit', { runId: runA }, 409)).toMatchObject({
      actor: { token: 'da-token', role: 'da' },
      outcome: { status: 409, code: again.body.error.code },
    });
    const bad = await stack.call('POST', `/api/v1/runs/${runB}/qa`, {
      role: 'da',
      body: { status: 'maybe', analyst: 'jdoe' },
    });
    expect(bad.status).toBe(400);
    expect(await rowOf('qa', { runId: runB }, 400)).toMatchObject({
      outcome: { status: 400, code: 'INVALID_REQUEST' },
      details: { status: 'maybe', analyst: 'jdoe' },
    });
    // A bad id is still a row of its action; the value asked is in the details.
    // (With a body Postgres could not store as sent: a NUL and a lone surrogate.)
    const badId = await stack.call('POST', '/api/v1/runs/abc/cancel', {
      role: 'da',
      raw: '{"why":"a\\u0000b\\ud800c"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(badId.status).toBe(400);
    expect((await audit('action=cancel'))[0]).toMatchObject({
      target: {},
      outcome: { status: 400 },
      details: { id: 'abc', why: 'ab\ufffdc' },
    });
  });

  test('a 401 and a 403 are `denied` rows, with what was attempted', async () => {
    const none = await stack.call('POST', `/api/v1/runs/${runB}/cancel`, { role: null });
    expect(none.status).toBe(401);
    const guess = await stack.call('POST', `/api/v1/runs/${runB}/cancel`, {
      role: null,
      headers: { authorization: 'Bearer wfs_not-a-real-secret-guess' },
    });
    expect(guess.status).toBe(401);
    const viewer = await stack.call('POST', `/api/v1/runs/${runB}/cancel`, { role: 'viewer' });
    expect(viewer.status).toBe(403);
    const read = await stack.call('GET', '/api/v1/audit', { role: 'da' });
    expect(read.status).toBe(403);
    const denied = await audit('action=denied');
    expect(denied.slice(0, 4)).toMatchObject([
      {
        actor: { token: 'da-token', role: 'da' },
        outcome: { status: 403, code: 'FORBIDDEN' },
        details: { attempted: null },
        request: { method: 'GET', path: '/api/v1/audit' },
      },
      {
        actor: { token: 'viewer-token', role: 'viewer' },
        target: { runId: runB },
        outcome: { status: 403, code: 'FORBIDDEN' },
        details: { attempted: 'cancel' },
      },
      {
        actor: null,
        target: { runId: runB },
        outcome: { status: 401, code: 'UNAUTHENTICATED' },
        details: { attempted: 'cancel' },
      },
      { actor: null, outcome: { status: 401 }, request: { method: 'POST' } },
    ]);
    // Nothing was cancelled.
    expect((await run(runB)).state).toBe('complete');
  });

  test('no row and no audit response holds a token secret', async () => {
    const created = await stack.call('POST', '/api/v1/tokens', {
      role: 'ops',
      body: { name: 'audit-secret-check', role: 'da' },
    });
    const secret: string = created.body.token;
    expect(secret).toMatch(/^wfs_/);
    // The new token acts: its name is the actor, never its secret.
    const submit = await stack.call('POST', `/api/v1/runs/${runA}/submit`, {
      role: null,
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(submit.status).toBe(409);
    expect((await audit('actor=audit-secret-check'))[0]).toMatchObject({
      actor: { token: 'audit-secret-check', role: 'da' },
      action: 'submit',
    });
    const table = (
      await stack.db.query<{ t: string }>(`SELECT row_to_json(a)::text AS t FROM audit a`)
    )
      .map((r) => r.t)
      .join('\n');
    const responses = JSON.stringify(await audit());
    for (const s of [secret, 'wfs_not-a-real-secret-guess', ...Object.values(TOKENS)]) {
      expect(table).not.toContain(s);
      expect(responses).not.toContain(s);
    }
  });
});

describe('GET /api/v1/audit', () => {
  test('filters by run, actor, action and time, newest first, and pages by cursor', async () => {
    const all = await audit();
    const ids = all.map((r) => r.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const ofA = await audit(`runId=${runA}`);
    expect(ofA.length).toBeGreaterThan(4);
    expect(ofA.every((r) => r.target.runId === runA)).toBe(true);
    const byOps = await audit('actor=ops-token');
    expect(byOps.length).toBeGreaterThan(5);
    expect(byOps.every((r) => r.actor.token === 'ops-token')).toBe(true);
    const cancels = await audit(`action=cancel&runId=${runC}`);
    expect(cancels).toHaveLength(2);
    expect(
      await audit(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`),
    ).toEqual([]);
    const oldest = all[all.length - 1];
    expect((await audit(`since=${encodeURIComponent(oldest.at)}`)).length).toBe(all.length);

    // Pages of 3 walk the whole log once, in order.
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const r: Call = await stack.call(
        'GET',
        `/api/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        { role: 'ops' },
      );
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...r.body.items.map((i: any) => i.id));
      cursor = r.body.nextCursor;
    } while (cursor);
    // Reading the log writes nothing to it: the pages see what the first read saw.
    expect(seen).toEqual(ids);
  });

  test('a bad query is a 400 naming each bad parameter', async () => {
    for (const [q, field] of [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['runId=0', 'runId'],
      ['runId=x', 'runId'],
      ['action=delete', 'action'],
      ['since=yesterday', 'since'],
      ['since=2026-13-45', 'since'],
      ['cursor=bm9wZQ', 'cursor'],
      ['colour=red', 'colour'],
      ['actor=a&actor=b', 'actor'],
    ] as const) {
      const r = await stack.call('GET', `/api/v1/audit?${q}`, { role: 'ops' });
      expect([q, r.status]).toEqual([q, 400]);
      expect(r.body.error.details.fields).toHaveProperty([field]);
    }
    const many = await stack.call('GET', '/api/v1/audit?limit=x&runId=-1&action=nope&since=now', {
      role: 'ops',
    });
    expect(many.status).toBe(400);
    expect(Object.keys(many.body.error.details.fields).sort()).toEqual([
      'action',
      'limit',
      'runId',
      'since',
    ]);
  });
});

test('the database refuses UPDATE, DELETE and TRUNCATE of the log, for the service role too', async () => {
  const before = (await stack.db.query<{ n: string }>('SELECT count(*) AS n FROM audit'))[0]!.n;
  // stack.db connects as the service does (the same DATABASE_URL, the table's owner).
  await expect(stack.db.query(`UPDATE audit SET action = 'create'`)).rejects.toThrow(
    /append-only: UPDATE/,
  );
  await expect(stack.db.query(`DELETE FROM audit`)).rejects.toThrow(/append-only: DELETE/);
  await expect(stack.db.query(`TRUNCATE audit`)).rejects.toThrow(/append-only: TRUNCATE/);
  const after = (await stack.db.query<{ n: string }>('SELECT count(*) AS n FROM audit'))[0]!.n;
  expect(after).toBe(before);
  // And no route changes it: the audit path answers GET only.
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'])
    expect((await stack.call(method, '/api/v1/audit', { role: 'admin', body: {} })).status).toBe(
      404,
    );
});

test('a row that cannot be written loses no change and is logged loudly, whole', async () => {
  const created = await stack.call('POST', '/api/v1/workflows/t_cancel/runs', {
    role: 'da',
    body: { submit: false },
  });
  const lines: string[] = [];
  const spies = [process.stdout, process.stderr].map((s) =>
    jest.spyOn(s, 'write').mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    }),
  );
  // Every insert into the log fails while this constraint is there.
  await stack.db.query('ALTER TABLE audit ADD CONSTRAINT audit_test_off CHECK (false) NOT VALID');
  let cancel: Call;
  let refused: Call;
  try {
    cancel = await stack.call('POST', `/api/v1/runs/${created.body.id}/cancel`, { role: 'da' });
    refused = await stack.call('POST', `/api/v1/runs/${created.body.id}/submit`, { role: 'da' });
  } finally {
    await stack.db.query('ALTER TABLE audit DROP CONSTRAINT audit_test_off');
    spies.forEach((s) => s.mockRestore());
  }
  expect(cancel.status).toBe(202);
  expect((await run(created.body.id)).state).toBe('cancelled');
  expect(refused.status).toBe(409);
  const logged = lines.filter((l) => l.includes('AUDIT ROW NOT WRITTEN'));
  expect(logged).toHaveLength(2);
  expect(logged[0]).toContain(`"action":"cancel","target":{"runId":${created.body.id}}`);
  expect(logged[0]).toContain('"outcome":{"status":202}');
  expect(logged[1]).toContain('"outcome":{"status":409');
  expect(await audit(`runId=${created.body.id}&action=cancel`)).toEqual([]);
});

test('every route that changes something declares its audit action', () => {
  const controllers: Array<new (...a: never[]) => object> =
    ApiModule.forRoot(loadConfig({})).controllers ?? ([] as any);
  const unaudited: string[] = [];
  let changing = 0;
  for (const c of controllers) {
    const proto = c.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const handler = proto[name];
      if (typeof handler !== 'function' || name === 'constructor') continue;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (method === undefined || method === RequestMethod.GET) continue;
      changing++;
      if (!auditSpecOf(handler)) unaudited.push(`${c.name}.${name}`);
    }
  }
  expect(changing).toBeGreaterThanOrEqual(21);
  expect(unaudited).toEqual([]);
});

test('wfs audit prints the log; --json, filters, usage and refusal exit codes', async () => {
  const plain = await wfs(stack, ['audit', '--run', String(runC)], { role: 'ops' });
  expect(plain.stderr).toBe('');
  expect(plain.code).toBe(0);
  expect(plain.stdout).toMatch(
    new RegExp(
      `ops-token \\(ops\\)  hold  run ${runC} job after\\[0\\]  200  .*"reason":"disk check"`,
    ),
  );
  expect(plain.stdout).toMatch(new RegExp(`da-token \\(da\\)  cancel  run ${runC}  202`));
  const json = await wfs(stack, ['audit', '--action', 'gate-reject', '--json'], { role: 'ops' });
  expect(json.code).toBe(0);
  expect(json.json).toEqual([
    expect.objectContaining({ action: 'gate-reject', target: { runId: runG, job: 'signoff' } }),
  ]);
  const few = await wfs(stack, ['audit', '--actor', 'ops-token', '--limit', '2', '--json'], {
    role: 'ops',
  });
  expect(few.json).toHaveLength(2);
  expect((await wfs(stack, ['audit', '--run', 'x'], { role: 'ops' })).code).toBe(2);
  const bad = await wfs(stack, ['audit', '--action', 'nope'], { role: 'ops' });
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/action: must be one of/);
  const refused = await wfs(stack, ['audit'], { role: 'da' });
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/needs the ops role/);
});
