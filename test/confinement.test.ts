/**
 * Every path the service writes or reads stays inside its roots (QUALITY.md
 * "Security rules"; issue 9 items 1, 2 and 4), seen as an attacker would see
 * it through the real REST API and a real worker running std_calibration on
 * the simulators: symlinks planted in a run directory (before creation, in a
 * pre-existing resultsDir, or after creation) never carry a write out of the
 * roots nor a read of a file outside them back to a caller, and a caller's
 * resultsDir is left where the caller asked without breaking another run.
 *
 * "Outside" is always a directory of the test's own under the system tmp dir,
 * away from the stack's roots; the secret is a file in such a directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack } from '@wfs/testing';
import {
  isErrorEnvelope,
  leaksOf,
  lexists,
  lstatTree,
  nonce,
  outsideDir,
  plantLink,
  sha256,
} from './support/files';

let stack: Stack;
let base: string;
let resultsRoot: string;
let processingRoot: string;
const outsides: string[] = [];

beforeAll(async () => {
  base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-confinement-')));
  resultsRoot = path.join(base, 'results');
  processingRoot = path.join(base, 'processing');
  stack = await startStack({
    workers: 1,
    env: {
      WFS_PROCESSING_ROOT: processingRoot,
      WFS_QA_ROOT: path.join(base, 'qa'),
      WFS_ARCHIVE_ROOT: path.join(base, 'archive'),
      // A results root of its own, and the processing root (as by default).
      WFS_RESULTS_ROOTS: `${resultsRoot}:${processingRoot}`,
      WFS_WORKER_CONCURRENCY: '4',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  for (const d of [...outsides, base]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers

/** A directory outside every root, removed after the file's tests. */
function outside(label: string): string {
  const d = outsideDir(label);
  outsides.push(d);
  return d;
}

/** A file outside the roots holding bytes that must never reach a caller. */
function secretFile(name = 'secret.txt'): { dir: string; file: string; bytes: Buffer } {
  const dir = outside('secret');
  const bytes = Buffer.from(`TOP-SECRET-${nonce()}-${nonce()}\n`);
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return { dir, file, bytes };
}

const subject = () => `19A-${nonce()}.sb1.eb1`;

function ppr(forSubject: string): Buffer {
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<ns2:SciPipeRequest xmlns:ns2="Common/pipelinescience">\n` +
      `  <ProcessingRequests><ProcessingRequest><ProcessingProcedure><RecipeName>hifv</RecipeName></ProcessingProcedure>` +
      `<DataSet><SdmIdentifier>${forSubject}</SdmIdentifier></DataSet></ProcessingRequest></ProcessingRequests>\n` +
      `</ns2:SciPipeRequest>\n`,
  );
}

const createStd = (body: Record<string, unknown>) =>
  stack.call('POST', '/api/v1/workflows/std_calibration/runs', { body, role: 'da' });

async function created(body: Record<string, unknown> = {}): Promise<any> {
  const r = await createStd({ subject: subject(), ...body });
  expect([r.status, r.text.slice(0, 300)]).toEqual([201, expect.any(String)]);
  return r.body;
}

const upload = (runId: number, name: string, bytes: Buffer) =>
  stack.call('PUT', `/api/v1/runs/${runId}/files/${name}`, {
    raw: bytes,
    role: 'da',
    headers: { 'content-type': 'application/octet-stream' },
  });

/**
 * Waits for the run to end. One whose tampered directory sent a job into its
 * retry backoff (fetch waits 60 s) is cancelled as soon as a job waits for a
 * retry (or after 30 s), which ends it.
 */
async function finish(runId: number): Promise<any> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const run = (await stack.call('GET', `/api/v1/runs/${runId}`, { role: 'viewer' })).body;
    if (['complete', 'failed', 'cancelled'].includes(run.state)) return run;
    if (run.jobs.some((j: any) => j.state === 'idle' && j.attempts > 0)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await stack.call('POST', `/api/v1/runs/${runId}/cancel`, { role: 'da' });
  return stack.waitForRun(runId);
}

/** Uploads a PPR, submits and waits for the end: every kind of write a run makes (inputs, logs, rawdata, working, products). */
async function runThrough(run: any): Promise<void> {
  const up = await upload(run.id, 'PPR.xml', ppr(run.subject));
  expect(up.status).toBeLessThan(500);
  const sub = await stack.call('POST', `/api/v1/runs/${run.id}/submit`, { role: 'da' });
  expect(sub.status).toBeLessThan(500);
  if (sub.status === 202) await finish(run.id);
}

const runCount = async () =>
  Number((await stack.db.query<{ n: string }>('SELECT count(*) AS n FROM runs'))[0]?.n);

/** A refusal in the contract's envelope (never a 5xx), with the status it came with. */
function expect4xx(r: { status: number; body: any; text: string }, statuses?: number[]): void {
  const context = `${r.status} ${r.text.slice(0, 300)}`;
  expect([r.status >= 400 && r.status < 500, context]).toEqual([true, context]);
  if (statuses) expect(statuses).toContain(r.status);
  expect(isErrorEnvelope(r.body)).toBe(true);
}

// ---------------------------------------------------------------- 1. writes

const WRITTEN_SUBDIRS = ['inputs', 'logs', 'rawdata', 'working', 'products'] as const;

describe('writes never follow a link out of the roots', () => {
  test.each(WRITTEN_SUBDIRS)(
    'a pre-existing resultsDir whose %s/ links outside: 400, or nothing is ever written outside',
    async (sub) => {
      const out = outside(sub);
      const dir = path.join(resultsRoot, `pre-${sub}-${nonce()}`);
      fs.mkdirSync(dir, { recursive: true });
      fs.symlinkSync(out, path.join(dir, sub));
      const before = await runCount();

      const r = await createStd({ subject: subject(), resultsDir: dir });
      if (r.status === 201) {
        // Accepted: then a whole run (upload, submit, every job) must still write nothing out there.
        await runThrough(r.body);
      } else {
        expect4xx(r, [400]);
        expect(r.body.error.code).toMatch(/RESULTS_DIR/);
        expect(await runCount()).toBe(before);
        expect(lexists(path.join(dir, sub))).toBe(true); // the caller's link is left alone
      }
      expect(lstatTree(out)).toEqual([]);
    },
    120_000,
  );

  test('a resultsDir that is itself a link out, or lies below one, is 400 and creates nothing', async () => {
    const out = outside('root');
    const link = path.join(resultsRoot, `link-${nonce()}`);
    fs.symlinkSync(out, link);
    const before = await runCount();
    for (const resultsDir of [link, path.join(link, 'run'), path.join(link, 'a', 'b')]) {
      const r = await createStd({ subject: subject(), resultsDir });
      expect4xx(r, [400]);
      expect(r.body.error.code).toMatch(/RESULTS_DIR/);
    }
    expect(await runCount()).toBe(before);
    expect(lstatTree(out)).toEqual([]);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
  });

  test('inputs/ replaced by a link out between create and upload: the upload is refused, nothing written outside', async () => {
    const run = await created();
    const out = outside('late-inputs');
    plantLink(path.join(run.processingDir, 'inputs'), out);
    const r = await upload(run.id, 'PPR.xml', ppr(run.subject));
    expect4xx(r, [400, 403, 404, 409]);
    expect(lstatTree(out)).toEqual([]);
    const files = await stack.call('GET', `/api/v1/runs/${run.id}/files`, { role: 'viewer' });
    expect(files.body.items).toEqual([]);
  });

  test('the run directory replaced by a link out between create and upload: the upload is refused, nothing written outside', async () => {
    const run = await created();
    const out = outside('late-root');
    fs.mkdirSync(path.join(out, 'inputs')); // so a followed link has somewhere to write
    plantLink(run.processingDir, out);
    const r = await upload(run.id, 'PPR.xml', ppr(run.subject));
    expect4xx(r, [400, 403, 404, 409]);
    expect(lstatTree(out)).toEqual(['inputs']);
  });

  test.each(['logs', 'rawdata', 'working', 'products'])(
    '%s/ replaced by a link out after the upload: the run writes nothing outside',
    async (sub) => {
      const run = await created();
      expect((await upload(run.id, 'PPR.xml', ppr(run.subject))).status).toBe(201);
      const out = outside(`late-${sub}`);
      plantLink(path.join(run.processingDir, sub), out);
      const sub202 = await stack.call('POST', `/api/v1/runs/${run.id}/submit`, { role: 'da' });
      expect(sub202.status).toBeLessThan(500);
      if (sub202.status === 202) await finish(run.id);
      // The run may fail (its directory was tampered with); it may not write through the link.
      expect(lstatTree(out)).toEqual([]);
    },
    120_000,
  );
});

// ---------------------------------------------------------------- 2. reads

describe('reads never follow a link out of the roots', () => {
  test.each(['the file', 'inputs/ itself'])(
    'GET /runs/{id}/files/{name} with %s linked outside: 4xx, never the secret',
    async (which) => {
      const secret = secretFile('PPR.xml');
      const run = await created();
      expect((await upload(run.id, 'PPR.xml', ppr(run.subject))).status).toBe(201);
      const inputs = path.join(run.processingDir, 'inputs');
      if (which === 'the file') plantLink(path.join(inputs, 'PPR.xml'), secret.file);
      else plantLink(inputs, secret.dir);

      const r = await stack.call('GET', `/api/v1/runs/${run.id}/files/PPR.xml`, { role: 'viewer' });
      expect(r.text).not.toContain(secret.bytes.toString());
      expect4xx(r, [403, 404, 409]);
    },
  );

  test.each(['the log file', 'logs/ itself'])(
    'the job-log endpoint with %s linked outside: never the secret',
    async (which) => {
      const r0 = await stack.call('POST', '/api/v1/workflows/radps_skeleton/runs', {
        body: { parameters: { nField: 1, nSpw: 1, nScan: 1 }, submit: true },
        role: 'da',
      });
      expect(r0.status).toBe(201);
      const run = await stack.waitForRun(r0.body.id);
      expect(run.state).toBe('complete');
      const job = run.jobs[0];
      const logName = `${job.name}.${job.index}.stdout.log`;
      const secret = secretFile(logName);
      const logs = path.join(run.processingDir, 'logs');
      if (which === 'the log file') plantLink(path.join(logs, logName), secret.file);
      else plantLink(logs, secret.dir);

      for (const q of ['', '?stream=stdout', '?tail=5']) {
        const r = await stack.call(
          'GET',
          `/api/v1/runs/${run.id}/jobs/${job.name}/${job.index}/log${q}`,
          { role: 'viewer' },
        );
        expect(r.status).toBeLessThan(500);
        expect(r.text).not.toContain(secret.bytes.toString().trim());
      }
    },
  );

  test.each(['the file', 'inputs/ itself'])(
    'a rerun with %s linked outside never copies the secret into the new run',
    async (which) => {
      const secret = secretFile('PPR.xml');
      const run = await created();
      expect((await upload(run.id, 'PPR.xml', ppr(run.subject))).status).toBe(201);
      const inputs = path.join(run.processingDir, 'inputs');
      if (which === 'the file') plantLink(path.join(inputs, 'PPR.xml'), secret.file);
      else plantLink(inputs, secret.dir);
      const before = await runCount();

      const r = await stack.call('POST', `/api/v1/runs/${run.id}/rerun`, {
        body: { submit: false },
        role: 'da',
      });
      if (r.status === 201) {
        const next = r.body;
        expect(leaksOf(next.processingDir, secret.bytes)).toEqual([]);
        for (const f of next.files) expect(f.sha256).not.toBe(sha256(secret.bytes));
        const got = await stack.call('GET', `/api/v1/runs/${next.id}/files/PPR.xml`, {
          role: 'viewer',
        });
        expect(got.text).not.toContain(secret.bytes.toString());
      } else {
        expect4xx(r);
        expect(await runCount()).toBe(before);
      }
      // Nowhere under the roots does the secret appear as a regular file.
      expect(leaksOf(processingRoot, secret.bytes).filter((l) => !l.includes('link'))).toEqual([]);
    },
  );
});

// ---------------------------------------------------------------- 4. callers' directories

describe("a caller's resultsDir under the processing root", () => {
  test('is reviewed where the caller asked: after delivery it still holds the products, and the run points at it', async () => {
    const wanted = path.join(processingRoot, `mine-${nonce()}`, 'calibration');
    const run = await created({ resultsDir: wanted, submit: true });
    expect(run.resultsDir).toBe(wanted);
    const done = await stack.waitForRun(run.id);
    expect(done.state).toBe('complete');
    expect(done.resultsDir).toBe(wanted);
    expect(done.processingDir).toBe(wanted);
    expect(fs.statSync(path.join(wanted, 'products')).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(wanted, 'products', 'weblog.tgz'))).toBe(true);
    // and nothing of it went to the QA area
    expect(fs.existsSync(path.join(stack.config.qaRoot, path.basename(wanted)))).toBe(false);
  });

  test.each(['the next run', 'an existing run'])(
    'a caller naming its directory std_calibration_<N> after %s does not make run N fail at delivery',
    async (whose) => {
      const first = await created(); // an existing run, in the processing area, not submitted yet
      // Ids come from one sequence, drawn once per insert in this file's own database.
      const victimId = whose === 'the next run' ? first.id + 2 : first.id;
      const callerDir = path.join(
        processingRoot,
        `caller-${nonce()}`,
        `std_calibration_${victimId}`,
      );
      const caller = await created({ resultsDir: callerDir, submit: true });
      const victim = whose === 'the next run' ? await created() : first;
      expect(victim.id).toBe(victimId);
      expect((await stack.waitForRun(caller.id)).state).toBe('complete');

      expect((await upload(victim.id, 'PPR.xml', ppr(victim.subject))).status).toBe(201);
      const sub = await stack.call('POST', `/api/v1/runs/${victim.id}/submit`, { role: 'da' });
      expect(sub.status).toBe(202);
      const done = await stack.waitForRun(victim.id);
      expect([done.state, done.error]).toEqual(['complete', null]);
      expect(fs.existsSync(path.join(done.processingDir, 'products', 'weblog.tgz'))).toBe(true);
    },
  );
});
