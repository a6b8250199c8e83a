import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack, TOKENS, wfs } from '@wfs/testing';

let stack: Stack;
let scratch: string;
beforeAll(async () => {
  stack = await startStack();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-rerunfrom-'));
});
afterAll(async () => {
  await stack?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const countRuns = async () =>
  Number((await stack.db.query<{ n: string }>('SELECT count(*) AS n FROM runs'))[0]!.n);

/** sha256 of every file under `dir` (no link followed), by relative path. */
function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = path.join(rel, e.name);
      if (e.isDirectory()) walk(child);
      else out[child] = e.isFile() ? sha256(fs.readFileSync(path.join(dir, child))) : 'not a file';
    }
  };
  walk('');
  return out;
}

/** A multipart rerun, as the CLI sends it. */
async function rerun(id: number, fields: Record<string, string>, files: Record<string, string>) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  for (const [name, text] of Object.entries(files)) form.append(name, new Blob([text]), name);
  const res = await fetch(`${stack.url}/api/v1/runs/${id}/rerun`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.da}` },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function calibrated(subject: string) {
  const made = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
    body: { subject, submit: true },
  });
  expect(made.status).toBe(201);
  const run = await stack.waitForRun(made.body.id);
  expect(run.state).toBe('complete');
  return run;
}

const job = (run: any, name: string) => run.jobs.find((j: any) => j.name === name);

test('a re-run from casa with a new flagtemplate.txt reuses the fetched raw data: no fetch, same inodes, source untouched', async () => {
  const eb = `23B-${Date.now()}.sb7.eb1`;
  const v1 = await calibrated(eb);
  const before = digests(v1.processingDir);
  const raw = path.join('rawdata', eb.replace(/[/:\\]/g, '_'));
  expect(Object.keys(before)).toContain(path.join(raw, 'ASDM.xml'));
  expect(Object.keys(before)).toContain(path.join('logs', 'fetch.0.stdout.log'));

  const flags = "mode='manual' antenna='ea12' reason='RFI in spw 7'\n";
  const made = await rerun(v1.id, { fromJob: 'casa' }, { 'flagtemplate.txt': flags });
  expect(made.status).toBe(201);
  expect(made.body).toMatchObject({ version: 2, requestId: v1.requestId });
  const v2 = await stack.waitForRun(made.body.id);
  expect(v2.state).toBe('complete');

  // The fetch was reused, not run: skipped, never started, no log of a process in the new run.
  expect(job(v2, 'fetch')).toMatchObject({
    state: 'skipped',
    statusReason: `reused from run ${v1.id}`,
    attempts: 0,
  });
  expect(job(v2, 'casa')).toMatchObject({ state: 'completed', attempts: 1 });
  expect(job(v2, 'deliver')).toMatchObject({ state: 'completed' });
  const logs = fs.readdirSync(path.join(v2.processingDir, 'logs'));
  expect(logs.filter((l) => l.startsWith('fetch.'))).toEqual([]);
  expect(logs.filter((l) => l.startsWith('casa.')).length).toBeGreaterThan(0);

  // The raw data is the source's, hard-linked: same inode, every file.
  const after = digests(v1.processingDir);
  for (const file of Object.keys(before).filter((f) => f.startsWith(raw + path.sep))) {
    expect(fs.statSync(path.join(v2.processingDir, file)).ino).toBe(
      fs.statSync(path.join(v1.processingDir, file)).ino,
    );
  }
  // CASA ran with the new flagtemplate.txt; the source directory is as it was.
  const used = JSON.parse(
    fs.readFileSync(path.join(v2.processingDir, 'products', 'inputs_used.json'), 'utf8'),
  );
  expect(used['flagtemplate.txt'].sha256).toBe(sha256(flags));
  expect(after).toEqual(before);

  // The events: gapless, nothing about the reused fetch (it never started nor completed here).
  const events = (await stack.call('GET', `/api/v1/runs/${v2.id}/events`)).body.items;
  expect(events.map((e: any) => e.sequence)).toEqual(events.map((_: any, i: number) => i + 1));
  expect(events.filter((e: any) => e.job?.name === 'fetch')).toEqual([]);
  expect(events.map((e: any) => e.type).slice(0, 4)).toEqual([
    'created',
    'submitted',
    'running',
    'job-started',
  ]);
  expect(events[3].job).toMatchObject({ name: 'casa' });
  expect(events[events.length - 1].type).toBe('complete');

  // A re-run of the re-run from casa reuses the reused fetch (its outputs are there).
  const v3 = await rerun(v2.id, { fromJob: 'deliver' }, {});
  expect(v3.status).toBe(201);
  const done = await stack.waitForRun(v3.body.id);
  expect(done.state).toBe('complete');
  expect(job(done, 'fetch').statusReason).toBe(`reused from run ${v2.id}`);
  expect(job(done, 'casa').statusReason).toBe(`reused from run ${v2.id}`);

  // 409 INPUTS_GONE once the source directory is gone; nothing is made.
  fs.rmSync(v2.processingDir, { recursive: true, force: true });
  const runs = await countRuns();
  const gone = await stack.call('POST', `/api/v1/runs/${v2.id}/rerun`, {
    body: { fromJob: 'casa' },
  });
  expect(gone.status).toBe(409);
  expect(gone.body.error.code).toBe('INPUTS_GONE');
  expect(await countRuns()).toBe(runs);
});

test('fromJob refusals: unknown job, a reused job without outputs (400), a reused job that never completed (409); nothing made', async () => {
  const runs = await countRuns();
  const dirs = () => fs.readdirSync(stack.config.processingRoot).length;
  const made = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
    body: { subject: `23B-${Date.now()}.sb8.eb1` },
  });
  expect(made.status).toBe(201);
  const entries = dirs();

  const unknown = await stack.call('POST', `/api/v1/runs/${made.body.id}/rerun`, {
    body: { fromJob: 'imaging' },
  });
  expect(unknown.status).toBe(400);
  expect(unknown.body.error.code).toBe('UNKNOWN_JOB');
  expect(unknown.body.error.message).toContain('fetch, casa, deliver');

  // Never submitted: its fetch never completed.
  const never = await stack.call('POST', `/api/v1/runs/${made.body.id}/rerun`, {
    body: { fromJob: 'casa' },
  });
  expect(never.status).toBe(409);
  expect(never.body.error.code).toBe('INPUTS_GONE');
  expect(never.body.error.message).toContain('fetch');

  // radps_skeleton's jobs declare no outputs: nothing to reuse.
  const radps = await stack.call('POST', '/api/v1/workflows/radps_skeleton/runs', {
    body: { parameters: { nField: 1, nSpw: 1, nScan: 1 } },
  });
  expect(radps.status).toBe(201);
  const bare = await stack.call('POST', `/api/v1/runs/${radps.body.id}/rerun`, {
    body: { fromJob: 'solve_bandpass' },
  });
  expect(bare.status).toBe(400);
  expect(bare.body.error.code).toBe('NO_OUTPUTS');
  expect(bare.body.error.message).toContain('import_bpcal');
  expect(await countRuns()).toBe(runs + 2);
  expect(dirs()).toBe(entries + 1);
});

test('the CLI: wfs rerun <id> --from casa --flagtemplate f', async () => {
  const v1 = await calibrated(`23B-${Date.now()}.sb9.eb1`);
  const flags = path.join(scratch, 'flagtemplate.txt');
  fs.writeFileSync(flags, "mode='manual' antenna='ea03'\n");
  const out = await wfs(stack, [
    'rerun',
    String(v1.id),
    '--from',
    'casa',
    '--flagtemplate',
    flags,
    '--watch',
  ]);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  // What docs/da-guide.md shows: the reused fetch never appears, casa is the first job to start.
  expect(out.stdout).toMatch(/#3 running\n.*#4 job-started casa\[0\]/);
  expect(out.stdout).not.toContain('fetch');
  const v2 = (await stack.call('GET', `/api/v1/requests/${v1.requestId}`)).body.runs.find(
    (r: any) => r.version === 2,
  );
  const run = (await stack.call('GET', `/api/v1/runs/${v2.id}`)).body;
  expect(run.state).toBe('complete');
  expect(job(run, 'fetch')).toMatchObject({
    state: 'skipped',
    statusReason: `reused from run ${v1.id}`,
  });
  const bad = await wfs(stack, ['rerun', String(v1.id), '--from', 'nope', '--json']);
  expect(bad.code).toBe(1);
  expect(bad.json.error.code).toBe('UNKNOWN_JOB');
});
