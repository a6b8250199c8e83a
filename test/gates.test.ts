/**
 * Checkpoints with people (CONTRACT 5.4, 5.8, 5.9; WORKFLOWS v1.1): a gate
 * waits (`waiting`, the run's `waiting` list, `gate-waiting`), is approved
 * with changed parameters that the next job's arguments show, a gate only ops
 * may decide is rejected (the run fails GATE_REJECTED) and, resumed, opens
 * again and is approved; the refusals (403, 400 with nothing changed, 404,
 * 409); and `wfs gate`. On the real Postgres, Redis and RabbitMQ.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack, wfs } from '@wfs/testing';

const REPO = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures');

let stack: Stack;
let workflowsDir: string;

beforeAll(async () => {
  workflowsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-gate-workflows-'));
  // The shipped workflows with their template libraries (workflows/lib).
  fs.cpSync(path.join(REPO, 'workflows'), workflowsDir, { recursive: true });
  for (const f of ['t_gate', 't_gate_timeout'])
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

async function until<T>(fn: () => Promise<T | null | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const get = async (id: number) =>
  (await stack.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' })).body;
const job = async (id: number, name: string) =>
  (
    await stack.call('GET', `/api/v1/runs/${id}/jobs?limit=100`, { role: 'viewer' })
  ).body.items.find((j: any) => j.name === name);
const events = async (id: number) =>
  (await stack.call('GET', `/api/v1/runs/${id}/events?limit=1000`, { role: 'viewer' })).body.items;
const waitingAt = (id: number, gate: string) =>
  until(async () => {
    const r = await get(id);
    return r.waiting?.some((w: any) => w.job === gate) ? r : null;
  });
const decide = (id: number, gate: string, what: string, role: any, body: unknown = {}) =>
  stack.call('POST', `/api/v1/runs/${id}/gates/${gate}/${what}`, { role, body });

async function submit(): Promise<number> {
  const res = await stack.call('POST', '/api/v1/workflows/t_gate/runs', {
    role: 'da',
    body: { submit: true },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

describe('gates', () => {
  test('waits, is approved with new parameters the next job sees; an ops gate is rejected, resumed, approved', async () => {
    const id = await submit();
    const waiting = await waitingAt(id, 'review');
    expect(waiting.state).toBe('running');
    expect(waiting.waiting).toEqual([
      { job: 'review', prompt: 'Calibrator QA done. Go on to imaging?', since: expect.any(String) },
    ]);
    expect(await job(id, 'review')).toMatchObject({ state: 'waiting', attempts: 0 });
    expect(await job(id, 'image')).toMatchObject({ state: 'idle', waitingFor: 'dependencies' });
    const opened = (await events(id)).find((e: any) => e.type === 'gate-waiting');
    expect(opened).toMatchObject({
      job: { name: 'review', state: 'waiting' },
      gate: { job: 'review', prompt: 'Calibrator QA done. Go on to imaging?', comment: null },
    });

    // The roles the gate names are mailed (mail written to files here).
    const mail = await until(async () => {
      const dir = stack.config.mailDir;
      const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
      const f = files.find((n) => n.startsWith(`run-${id}-gate-waiting-`));
      return f ? fs.readFileSync(path.join(dir, f), 'utf8') : null;
    });
    expect(mail).toMatch(/waits for a decision at gate review/);
    expect(mail).toMatch(/Calibrator QA done\. Go on to imaging\?/);
    expect(mail).toMatch(new RegExp(`wfs gate ${id} review approve`));
    expect(mail).toMatch(/data-analysts@localhost/);

    // A viewer may not decide; parameters the schema refuses change nothing.
    expect((await decide(id, 'review', 'approve', 'viewer')).status).toBe(403);
    const bad = await decide(id, 'review', 'approve', 'da', { parameters: { robust: 9 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields).toHaveProperty(['parameters.robust']);
    expect((await get(id)).parameters.robust).toBe(0.5);
    expect(await job(id, 'review')).toMatchObject({ state: 'waiting' });
    // Not waiting yet, or no such gate.
    const early = await decide(id, 'signoff', 'approve', 'ops');
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('GATE_NOT_WAITING');
    expect((await decide(id, 'nope', 'approve', 'da')).status).toBe(404);
    expect((await decide(id, 'image', 'approve', 'da')).status).toBe(404);

    const approved = await decide(id, 'review', 'approve', 'da', {
      comment: 'bandpass looks fine',
      parameters: { robust: -1 },
    });
    expect(approved.status).toBe(200);
    expect(approved.body.parameters.robust).toBe(-1);
    const atSignoff = await waitingAt(id, 'signoff');
    const argv = JSON.parse(
      fs.readFileSync(path.join(atSignoff.processingDir, 'working', 'image-argv.json'), 'utf8'),
    );
    expect(argv).toContain('robust=-1');
    expect((await job(id, 'review')).state).toBe('completed');
    const approval = (await events(id)).find((e: any) => e.type === 'gate-approved');
    expect(approval).toMatchObject({
      actor: { role: 'da' },
      gate: { job: 'review', comment: 'bandpass looks fine' },
    });

    // Only ops may decide the sign-off.
    expect((await decide(id, 'signoff', 'reject', 'da', { comment: 'no' })).status).toBe(403);
    const rejected = await decide(id, 'signoff', 'reject', 'ops', { comment: 'flux scale off' });
    expect(rejected.status).toBe(200);
    const failed = await stack.waitForRun(id);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'GATE_REJECTED' });
    expect(failed.error.message).toMatch(/gate signoff was rejected by .*: flux scale off/);
    expect(await job(id, 'signoff')).toMatchObject({ state: 'failed', statusReason: 'rejected' });

    // Resumed, the rejected gate opens again; approved, the run completes.
    expect((await stack.call('POST', `/api/v1/runs/${id}/resume`, { role: 'da' })).status).toBe(
      202,
    );
    await waitingAt(id, 'signoff');
    expect((await decide(id, 'signoff', 'approve', 'ops')).status).toBe(200);
    const done = await stack.waitForRun(id);
    expect(done.state).toBe('complete');
    expect((await job(id, 'image')).attempts).toBe(1); // kept: it completed before the rejection
    const all = await events(id);
    expect(all.map((e: any) => e.sequence)).toEqual(all.map((_: any, i: number) => i + 1));
    expect(all.map((e: any) => e.type).filter((t: string) => t.startsWith('gate-'))).toEqual([
      'gate-waiting',
      'gate-approved',
      'gate-waiting',
      'gate-rejected',
      'gate-approved',
    ]);
  }, 60_000);

  test('wfs gate approve with --param, and the refusals it reports', async () => {
    const id = await submit();
    await waitingAt(id, 'review');
    const status = await wfs(stack, ['status', String(id)]);
    expect(status.stdout).toMatch(/gate review waiting since .*: Calibrator QA done/);
    const r = await wfs(stack, [
      'gate',
      String(id),
      'review',
      'approve',
      '--comment',
      'ok',
      '--param',
      'robust=1.5',
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ id, parameters: { robust: 1.5 } });
    const again = await wfs(stack, ['gate', String(id), 'review', 'approve']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/only a waiting gate can be decided/);
    const usage = await wfs(stack, ['gate', String(id), 'review', 'maybe']);
    expect(usage.code).toBe(2);
    await waitingAt(id, 'signoff');
    expect(
      (
        await wfs(stack, ['gate', String(id), 'signoff', 'reject', '--comment', 'x'], {
          role: 'ops',
        })
      ).code,
    ).toBe(0);
  }, 60_000);

  test('a gate with onTimeout decides itself once it waited its timeout', async () => {
    const res = await stack.call('POST', '/api/v1/workflows/t_gate_timeout/runs', {
      role: 'da',
      body: { submit: true },
    });
    const run = await stack.waitForRun(res.body.id, ['complete', 'failed'], 30_000);
    expect(run.state).toBe('failed');
    expect(run.error.code).toBe('GATE_REJECTED');
    expect(run.error.message).toMatch(/gate last_call was rejected by wfs \(gate timeout\)/);
    expect(await job(run.id, 'quick_look')).toMatchObject({ state: 'completed' });
    expect(await job(run.id, 'never')).toMatchObject({ state: 'skipped' });
    const decided = (await events(run.id)).filter((e: any) =>
      ['gate-approved', 'gate-rejected'].includes(e.type),
    );
    expect(decided.map((e: any) => [e.type, e.actor?.name, e.gate.comment])).toEqual([
      ['gate-approved', 'wfs (gate timeout)', 'no decision within 1 s: approved by its onTimeout'],
      ['gate-rejected', 'wfs (gate timeout)', 'no decision within 1 s: rejected by its onTimeout'],
    ]);
  }, 60_000);
});
