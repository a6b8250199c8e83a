import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { publish, startStack, Stack, until, wfs } from '@wfs/testing';

const NOT_ARCHIVED =
  'The data products are not in the archive, please wait and try again. If failures are repeated, please file an SSA ticket.';

let stack: Stack;
let scratch: string;
beforeAll(async () => {
  stack = await startStack();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-da-'));
});
afterAll(async () => {
  await stack?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const write = (name: string, text: string) => {
  const p = path.join(scratch, name);
  fs.writeFileSync(p, text);
  return p;
};
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const countRows = async (sql: string, params: unknown[] = []) =>
  Number((await stack.db.query<{ n: string }>(sql, params))[0]!.n);

test('the VLA story: automatic calibration, re-run with new files, QA, ingest, seal, cleanup; a reject on another EB', async () => {
  const eb = `22A-${Date.now()}.sb1.eb1`;
  // 1. A new observation is ingested: its standard calibration starts by itself.
  await publish(
    stack.config.amqpUrl,
    stack.config.archiveExchange,
    'ingestion-complete.observation',
    JSON.stringify({ telescope: 'VLA', executionBlockId: eb }),
  );
  const first = await until(
    'the automatic run',
    async () => (await stack.call('GET', `/api/v1/runs?subject=${eb}`)).body.items[0],
  );
  const v1 = await stack.waitForRun(first.id);
  expect(v1).toMatchObject({ state: 'complete', qaState: 'awaiting', diskState: 'qa', version: 1 });

  // 2. The DA re-runs by EB id with a new PPR and flagtemplate.
  const ppr = '<SciPipeRequest><RecipeName>hifv</RecipeName><!-- DA edit --></SciPipeRequest>\n';
  const flags = "mode='manual' antenna='ea05' reason='DA flags'\n";
  const rerun = await wfs(stack, [
    'rerun',
    eb,
    '--ppr',
    write('PPR.xml', ppr),
    '--flagtemplate',
    write('flagtemplate.txt', flags),
    '--watch',
    '--json',
  ]);
  expect(rerun.stderr).toBe('');
  expect(rerun.code).toBe(0);
  const v2 = (await stack.call('GET', `/api/v1/runs?subject=${eb}`)).body.items[0];
  expect(v2).toMatchObject({
    version: 2,
    requestId: v1.requestId,
    state: 'complete',
    qaState: 'awaiting',
  });
  // The products record which files were used; the old run is untouched.
  const used = JSON.parse(
    fs.readFileSync(path.join(v2.processingDir, 'products', 'inputs_used.json'), 'utf8'),
  );
  expect(used['PPR.xml'].sha256).toBe(sha256(ppr));
  expect(used['flagtemplate.txt'].sha256).toBe(sha256(flags));
  expect((await stack.call('GET', `/api/v1/runs/${v1.id}`)).body.files).toEqual(v1.files);

  // 3. Cleanup before ingest is refused with the exact message, and deletes nothing.
  const early = await wfs(stack, ['cleanup', String(v2.id)]);
  expect(early.code).toBe(1);
  expect(early.stderr).toContain(NOT_ARCHIVED);
  expect(fs.existsSync(v2.processingDir)).toBe(true);

  // 4. Ingest v2 with pass and a QA report: v1 becomes fail.
  const report = 'Calibration looks good. Flagged ea05 in spw 3.\n';
  const ingest = await wfs(stack, [
    'ingest',
    String(v2.id),
    '--qa',
    'pass',
    '--analyst',
    'jdoe',
    '--report',
    write('qa_report.txt', report),
    '--watch',
    '--json',
  ]);
  expect(ingest.stderr).toBe('');
  expect(ingest.code).toBe(0);
  const ingested = (await stack.call('GET', `/api/v1/runs/${v2.id}`)).body;
  expect(ingested).toMatchObject({
    qaState: 'pass',
    archiveState: 'ingested',
    diskState: 'processing',
  });
  expect(ingested.ingestionRunId).toEqual(expect.any(Number));
  expect(ingested.processingDir.startsWith(stack.config.processingRoot)).toBe(true);
  expect((await stack.call('GET', `/api/v1/runs/${v1.id}`)).body.qaState).toBe('fail');
  const ingestionRun = (await stack.call('GET', `/api/v1/runs/${ingested.ingestionRunId}`)).body;
  expect(ingestionRun).toMatchObject({
    state: 'complete',
    sourceRunId: v2.id,
    workflow: 'calibration_ingestion',
  });

  // 5. The archive: EB Calibrated, the calibration product with the weblog, its QA notes, the flags.
  const subject = (await stack.call('GET', `/api/v1/archive/subjects/${eb}`)).body;
  expect(subject.calibrationStatus).toBe('Calibrated');
  expect(subject.products.length).toBeGreaterThan(0);
  const product = subject.products[0];
  expect(product).toMatchObject({
    subject: eb,
    qaFlag: 'pass',
    sourceRunId: v2.id,
    ingestionRunId: ingestionRun.id,
  });
  const roles = new Set(product.files.map((f: any) => f.role));
  expect(roles).toEqual(expect.objectContaining({}));
  expect([...roles]).toEqual(expect.arrayContaining(['calibration', 'weblog', 'qa_report']));
  expect(product.files.some((f: any) => /\.fits$/.test(f.path))).toBe(false);
  const events = (await stack.call('GET', `/api/v1/runs/${v2.id}/events`)).body.items.map(
    (e: any) => e.type,
  );
  expect(events).toEqual(expect.arrayContaining(['qa-set', 'ingestion-started', 'ingested']));
  const completeEvent = (
    await stack.call('GET', `/api/v1/runs/${ingestionRun.id}/events`)
  ).body.items.find((e: any) => e.type === 'complete');
  expect(completeEvent.products.map((p: any) => p.name)).toContain(product.name);

  // 6. The request is sealed: no re-run.
  const sealed = await wfs(stack, ['rerun', String(v2.id), '--json']);
  expect(sealed.code).toBe(1);
  expect(sealed.json.error.code).toBe('REQUEST_SEALED');

  // 7. Cleanup deletes, once.
  const runsBefore = await countRows('SELECT count(*) AS n FROM runs');
  const clean = await wfs(stack, ['cleanup', String(v2.id)]);
  expect(clean.stderr).toBe('');
  expect(clean.code).toBe(0);
  expect(fs.existsSync(ingested.processingDir)).toBe(false);
  expect((await stack.call('GET', `/api/v1/runs/${v2.id}`)).body.diskState).toBe('removed');
  const again = await wfs(stack, ['cleanup', String(v2.id), '--json']);
  expect(again.code).toBe(1);
  expect(again.json.error.code).toBe('DIRECTORY_GONE');
  expect(await countRows('SELECT count(*) AS n FROM runs')).toBe(runsBefore);

  // 8. A reject on another EB: Do Not Calibrate, removed from the QA area.
  const other = await wfs(stack, [
    'submit',
    'std_calibration',
    '--subject',
    `${eb}.other`,
    '--watch',
    '--json',
  ]);
  expect(other.code).toBe(0);
  const otherRun = (await stack.call('GET', `/api/v1/runs?subject=${eb}.other`)).body.items[0];
  const reject = await wfs(stack, [
    'reject',
    String(otherRun.id),
    '--analyst',
    'jdoe',
    '--comments',
    'bad RFI',
  ]);
  expect(reject.code).toBe(0);
  const rejected = (await stack.call('GET', `/api/v1/runs/${otherRun.id}`)).body;
  expect(rejected).toMatchObject({ qaState: 'fail', diskState: 'removed' });
  expect(fs.existsSync(otherRun.processingDir)).toBe(false);
  expect(
    (await stack.call('GET', `/api/v1/archive/subjects/${eb}.other`)).body.calibrationStatus,
  ).toBe('Do Not Calibrate');
}, 120_000);

test('illegal DA transitions get a 409 with the state and change nothing', async () => {
  const failed = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
    body: { subject: `X.${Date.now()}.SIMFAIL-EXIT3`, submit: true },
  });
  const run = await stack.waitForRun(failed.body.id);
  expect(run.state).toBe('failed');
  const eventsBefore = await countRows('SELECT count(*) AS n FROM events');
  const runsBefore = await countRows('SELECT count(*) AS n FROM runs');
  for (const [path, body] of [
    [`/api/v1/runs/${run.id}/ingest`, { qa: 'pass', analyst: 'a' }],
    [`/api/v1/runs/${run.id}/qa`, { status: 'pass', analyst: 'a' }],
    [`/api/v1/runs/${run.id}/reject`, { analyst: 'a' }],
  ] as const) {
    const r = await stack.call('POST', path, { body });
    expect(r.status).toBe(409);
    expect(r.body.error.details.state).toBe('failed');
  }
  const cleanup = await stack.call('POST', `/api/v1/runs/${run.id}/cleanup`);
  expect(cleanup.status).toBe(409);
  expect(cleanup.body.error).toMatchObject({ code: 'NOT_ARCHIVED', message: NOT_ARCHIVED });
  expect(await countRows('SELECT count(*) AS n FROM events')).toBe(eventsBefore);
  expect(await countRows('SELECT count(*) AS n FROM runs')).toBe(runsBefore);
  expect(fs.existsSync(run.processingDir)).toBe(true);

  // Ingest twice: the second is refused while the first is under way or done.
  const ok = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
    body: { subject: `Y.${Date.now()}.eb1`, submit: true },
  });
  await stack.waitForRun(ok.body.id);
  const first = await stack.call('POST', `/api/v1/runs/${ok.body.id}/ingest`, {
    body: { qa: 'pass', analyst: 'a' },
  });
  expect(first.status).toBe(202);
  const second = await stack.call('POST', `/api/v1/runs/${ok.body.id}/ingest`, {
    body: { qa: 'pass', analyst: 'a' },
  });
  expect(second.status).toBe(409);
  expect(['ingesting', 'ingested']).toContain(second.body.error.details.archiveState);
}, 120_000);

test('the ALMA story: imaging completes, the SRDP ops manager is mailed the run id, ingest records pass with primary and ancillary products', async () => {
  const mous = `uid___A001_X${Date.now().toString(16)}_X2b5`;
  const submitted = await wfs(stack, [
    'submit',
    'std_imaging',
    '--subject',
    mous,
    '--watch',
    '--json',
  ]);
  expect(submitted.stderr).toBe('');
  expect(submitted.code).toBe(0);
  const run = (await stack.call('GET', `/api/v1/runs?subject=${mous}`)).body.items[0];
  expect(run).toMatchObject({
    workflow: 'std_imaging',
    state: 'complete',
    qaState: 'awaiting',
    diskState: 'qa',
  });

  // The operations manager's mail names the run, so QA can be assigned.
  const mail = await until('the ops manager mail', () => {
    const files = fs.existsSync(stack.config.mailDir) ? fs.readdirSync(stack.config.mailDir) : [];
    const found = files
      .map((f) => fs.readFileSync(path.join(stack.config.mailDir, f), 'utf8'))
      .find((m) => m.includes(`run ${run.id}`) && /complete/.test(m) && /srdp-ops/i.test(m));
    return found ?? null;
  });
  expect(mail).toContain(mous);

  const ingest = await wfs(stack, [
    'ingest',
    String(run.id),
    '--qa',
    'pass',
    '--analyst',
    'asmith',
    '--watch',
    '--json',
  ]);
  expect(ingest.stderr).toBe('');
  expect(ingest.code).toBe(0);
  const after = (await stack.call('GET', `/api/v1/runs/${run.id}`)).body;
  expect(after).toMatchObject({ qaState: 'pass', archiveState: 'ingested' });
  const subject = (await stack.call('GET', `/api/v1/archive/subjects/${mous}`)).body;
  const product = subject.products[0];
  expect(product).toMatchObject({ qaFlag: 'pass', sourceRunId: run.id });
  const roles = product.files.map((f: any) => f.role);
  expect(roles).toEqual(expect.arrayContaining(['primary', 'ancillary']));
  expect(
    product.files
      .filter((f: any) => f.role === 'primary')
      .every((f: any) => /\.fits(\.gz)?$/.test(f.path)),
  ).toBe(true);
  const byName = (
    await stack.call('GET', `/api/v1/archive/products/${encodeURIComponent(product.name)}`)
  ).body;
  expect(byName.files).toEqual(product.files);
}, 120_000);
