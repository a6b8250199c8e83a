/**
 * What the VLASS manager does after processing, on the real services: cache
 * a quick-look run's images (vlass_image_caching: what and where as it says,
 * into WFS_CACHE_ROOT, swept like the processing area), ingest many
 * quick-look runs in one ingestion run (POST /api/v1/ingestions, `wfs
 * ingest-many`), each source getting its own `ingested` event with its own
 * product's name, and ingest a calibration for the manager's token
 * (correlationId) and get the product name back. Bad requests are refused
 * with the error envelope and change nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sweepImageCache } from '@wfs/operations';
import { startStack, Stack, wfs } from '@wfs/testing';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

const nonce = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const TILE = { epoch: 'VLASS2.1', tile: 'T10t12', phaseCenter: 'J101700+433000' };
const EBS = ['VLASS2.1.sb38573828.eb38594022.59073.83'];
const PPR = Buffer.from('<?xml version="1.0"?>\n<SciPipeRequest/>\n');
const tt0 = (image: string) => `${image}.I.iter1.image.pbcor.tt0.subim.fits`;
const rms = (image: string) => `${image}.I.iter1.image.pbcor.tt0.rms.subim.fits`;

async function launch(
  workflow: string,
  subject: string | null,
  parameters: Record<string, unknown>,
  opts: { files?: Record<string, Buffer>; correlationId?: string; resultsDir?: boolean } = {},
): Promise<any> {
  const resultsDir =
    opts.resultsDir === false
      ? undefined
      : path.join(stack.config.resultsRoots[0] as string, 'vlass', workflow, nonce());
  const created = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    role: 'service',
    body: {
      ...(subject ? { subject } : {}),
      parameters,
      ...(resultsDir ? { resultsDir } : {}),
      ...(opts.correlationId ? { correlationId: opts.correlationId } : {}),
    },
  });
  expect(created.status).toBe(201);
  const id = created.body.id as number;
  for (const [name, bytes] of Object.entries(opts.files ?? {})) {
    const up = await stack.call('PUT', `/api/v1/runs/${id}/files/${name}`, {
      role: 'service',
      raw: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(up.status).toBe(201);
  }
  expect((await stack.call('POST', `/api/v1/runs/${id}/submit`, { role: 'service' })).status).toBe(
    202,
  );
  return stack.waitForRun(id);
}

/** A complete quick-look run of its own tile image. */
async function quicklook(tag = nonce()): Promise<{ run: any; image: string }> {
  const image = `VLASS2.1.ql.T10t12.J101700+433000.10.2048.v${tag}`;
  const run = await launch(
    'vlass_quicklook',
    image,
    { ...TILE, imageName: image, executionBlocks: EBS },
    { files: { 'PPR.xml': PPR } },
  );
  expect(run.state).toBe('complete');
  return { run, image };
}

const eventsOf = async (id: number): Promise<any[]> =>
  (await stack.call('GET', `/api/v1/runs/${id}/events?limit=1000`, { role: 'viewer' })).body.items;
const runOf = async (id: number): Promise<any> =>
  (await stack.call('GET', `/api/v1/runs/${id}`, { role: 'viewer' })).body;

describe('vlass_image_caching', () => {
  test("caches the images the manager names under the name it gives, from the run's products", async () => {
    const { run, image } = await quicklook();
    const cacheName = `VLASS2.1/T10t12/J101700+433000/${image}`;
    const caching = await launch(
      'vlass_image_caching',
      image,
      {
        imagesDir: path.join(run.resultsDir, 'products'),
        images: [tt0(image), rms(image)],
        cacheName,
      },
      { resultsDir: false },
    );
    expect(caching.state).toBe('complete');
    const entry = path.join(stack.config.cacheRoot, ...cacheName.split('/'));
    expect(fs.readdirSync(entry).sort()).toEqual(
      ['.wfs-cache.json', rms(image), tt0(image)].sort(),
    );
    expect(fs.readFileSync(path.join(entry, tt0(image)))).toEqual(
      fs.readFileSync(path.join(run.resultsDir, 'products', tt0(image))),
    );
    const marker = JSON.parse(fs.readFileSync(path.join(entry, '.wfs-cache.json'), 'utf8'));
    expect(marker).toMatchObject({
      cacheName,
      cachedBy: { runId: caching.id, workflow: 'vlass_image_caching' },
      images: [
        { name: tt0(image), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
        { name: rms(image) },
      ],
    });
    const cacheJob = caching.jobs.find((j: any) => j.name === 'cache');
    expect(cacheJob.stage).toBe('post casa work');
    expect(cacheJob.result).toEqual({
      cacheDir: entry,
      images: [tt0(image), rms(image)],
      bytes: expect.any(Number),
    });

    // The sweep leaves it while young and deletes it once older than WFS_CACHE_RETENTION_DAYS.
    const log = { log: () => undefined, warn: () => undefined };
    expect(await sweepImageCache(stack.config.cacheRoot, 21, log)).toEqual([]);
    expect(fs.existsSync(entry)).toBe(true);
    const later = Date.now() + 22 * 24 * 3600 * 1000;
    expect(await sweepImageCache(stack.config.cacheRoot, 21, log, later)).toContain(entry);
    expect(fs.existsSync(entry)).toBe(false);
    // The run's own results stay where the manager put them.
    expect(fs.existsSync(path.join(run.resultsDir, 'products', tt0(image)))).toBe(true);
  }, 60_000);

  test('an image that is not there fails the cache job, naming it, and caches nothing', async () => {
    const { run, image } = await quicklook();
    const cacheName = `VLASS2.1/T10t12/missing-${nonce()}`;
    const caching = await launch(
      'vlass_image_caching',
      image,
      {
        imagesDir: path.join(run.resultsDir, 'products'),
        images: [tt0(image), 'not-made.fits'],
        cacheName,
      },
      { resultsDir: false },
    );
    expect(caching.state).toBe('failed');
    const log = await stack.call(
      'GET',
      `/api/v1/runs/${caching.id}/jobs/cache/0/log?stream=stdout`,
      { role: 'viewer' },
    );
    expect(log.text + JSON.stringify(caching.error)).toMatch(/not-made\.fits is not a file/);
    expect(fs.existsSync(path.join(stack.config.cacheRoot, ...cacheName.split('/')))).toBe(false);
  }, 60_000);

  test('a directory outside the service areas, or a cache name that climbs, is refused', async () => {
    const bad = await stack.call('POST', '/api/v1/workflows/vlass_image_caching/runs', {
      role: 'service',
      body: {
        subject: 'x',
        parameters: { imagesDir: '/etc', images: ['passwd'], cacheName: '../../etc' },
      },
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.error.details.fields)).toEqual(['parameters.cacheName']);
    const outside = await launch(
      'vlass_image_caching',
      'x',
      { imagesDir: '/etc', images: ['hostname'], cacheName: `outside-${nonce()}` },
      { resultsDir: false },
    );
    expect(outside.state).toBe('failed');
    expect(fs.existsSync(path.join(stack.config.cacheRoot, 'hostname'))).toBe(false);
  }, 60_000);
});

describe('bulk quick-look ingestion (POST /api/v1/ingestions)', () => {
  test('one ingestion run for three runs; each source gets its own ingested event with its product', async () => {
    const sources = [await quicklook(), await quicklook(), await quicklook()];
    const ids = sources.map((s) => s.run.id);
    const res = await stack.call('POST', '/api/v1/ingestions', {
      role: 'service',
      body: { runIds: ids, analyst: 'vlass-manager', correlationId: 'ql-batch-7' },
    });
    expect(res.status).toBe(202);
    expect(res.body.runs.map((r: any) => [r.id, r.archiveState])).toEqual(
      ids.map((id) => [id, 'ingesting']),
    );
    const ingestion = res.body.ingestionRun;
    expect(ingestion).toMatchObject({
      workflow: 'vlass_quicklook_ingestion',
      sourceRunIds: ids,
      sourceRunId: null,
      correlationId: 'ql-batch-7',
    });
    const done = await stack.waitForRun(ingestion.id);
    expect(done.state).toBe('complete');

    for (const { run, image } of sources) {
      const after = await runOf(run.id);
      expect(after).toMatchObject({ archiveState: 'ingested', ingestionRunId: ingestion.id });
      const ingested = (await eventsOf(run.id)).filter((e) => e.type === 'ingested');
      expect(ingested).toHaveLength(1);
      const name = `${image}.img.r${run.id}`;
      expect(ingested[0].products.map((p: any) => [p.name, p.sourceRunId])).toEqual([
        [name, run.id],
      ]);
      const files = ingested[0].products[0].files;
      expect(files).toEqual(
        expect.arrayContaining([
          { path: tt0(image), role: 'primary' },
          { path: rms(image), role: 'ancillary' },
        ]),
      );
      // In the archive with QA pass, under its name.
      const archived = await stack.call(
        'GET',
        `/api/v1/archive/subjects/${encodeURIComponent(image)}`,
        { role: 'viewer' },
      );
      expect(archived.status).toBe(200);
      expect(JSON.stringify(archived.body)).toContain(name);
      // The manager's directory stays where it asked for it.
      expect(after.processingDir).toBe(run.resultsDir);
    }
    // The ingestion run's complete carries all three products.
    const complete = (await eventsOf(ingestion.id)).find((e) => e.type === 'complete');
    expect(complete.products.map((p: any) => p.sourceRunId).sort()).toEqual([...ids].sort());

    // Ingested runs cannot be ingested again: their requests are sealed.
    const again = await stack.call('POST', '/api/v1/ingestions', {
      role: 'service',
      body: { runIds: [ids[0]], analyst: 'vlass-manager' },
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('REQUEST_SEALED');
  }, 120_000);

  test('wfs ingest-many ingests the runs it names and follows the ingestion run', async () => {
    const a = await quicklook();
    const b = await quicklook();
    const out = await wfs(
      stack,
      ['ingest-many', String(a.run.id), String(b.run.id), '--analyst', 'cli-da', '--watch'],
      { role: 'da' },
    );
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/vlass_quicklook_ingestion/);
    for (const s of [a, b]) expect((await runOf(s.run.id)).archiveState).toBe('ingested');
    const usage = await wfs(stack, ['ingest-many', '--analyst', 'x'], { role: 'da' });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/run ids are missing/);
  }, 120_000);

  test('a source whose products are gone fails the ingestion: every source learns it', async () => {
    const a = await quicklook();
    const b = await quicklook();
    fs.rmSync(path.join(b.run.resultsDir, 'products'), { recursive: true, force: true });
    const res = await stack.call('POST', '/api/v1/ingestions', {
      role: 'service',
      body: { runIds: [a.run.id, b.run.id], analyst: 'vlass-manager' },
    });
    expect(res.status).toBe(202);
    const done = await stack.waitForRun(res.body.ingestionRun.id, ['complete', 'failed'], 90_000);
    expect(done.state).toBe('failed');
    for (const s of [a, b]) {
      expect((await runOf(s.run.id)).archiveState).toBe('ingest_failed');
      expect((await eventsOf(s.run.id)).map((e) => e.type)).toContain('ingestion-failed');
    }
  }, 120_000);

  test('bad requests are refused with the error envelope and change nothing', async () => {
    const { run } = await quicklook();
    const failed = await launch(
      'vlass_quicklook',
      `VLASS2.1.ql.SIMFAIL-ANNOTATEQA.${nonce()}`,
      {
        ...TILE,
        imageName: `VLASS2.1.ql.T10t12.J101700+433000.10.2048.v${nonce()}`,
        executionBlocks: EBS,
      },
      { files: { 'PPR.xml': PPR } },
    );
    expect(failed.state).toBe('failed');
    const other = await launch(
      'vlass_se_continuum_imaging',
      `VLASS2.1.se.T10t12.J101700+433000.06.2048.v${nonce()}`,
      {
        ...TILE,
        imageName: `VLASS2.1.se.T10t12.J101700+433000.06.2048.v${nonce()}`,
        calibrations: ['VLASS2.1.sb1.eb1.59000.1.cal'],
      },
      { files: { 'PPR.xml': PPR } },
    );
    const post = (body: unknown, role: 'service' | 'viewer' = 'service') =>
      stack.call('POST', '/api/v1/ingestions', { role, body });
    const cases: Array<[unknown, number, string]> = [
      [{ runIds: [], analyst: 'm' }, 400, 'INVALID_REQUEST'],
      [
        { runIds: Array.from({ length: 1001 }, (_, i) => i + 1), analyst: 'm' },
        400,
        'INVALID_REQUEST',
      ],
      [{ runIds: [run.id, run.id], analyst: 'm' }, 400, 'INVALID_REQUEST'],
      [{ runIds: ['1'], analyst: 'm' }, 400, 'INVALID_REQUEST'],
      [{ runIds: [run.id] }, 400, 'INVALID_REQUEST'],
      [{ runIds: [run.id], analyst: 'm', qa: 'maybe' }, 400, 'INVALID_REQUEST'],
      [{ runIds: [run.id], analyst: 'm', extra: 1 }, 400, 'INVALID_REQUEST'],
      [{ runIds: [run.id], analyst: 'm', qa: 'fail' }, 400, 'QA_PASS_ONLY'],
      [{ runIds: [run.id, 99_999_999], analyst: 'm' }, 404, 'RUN_NOT_FOUND'],
      [{ runIds: [run.id, failed.id], analyst: 'm' }, 409, 'RUN_NOT_COMPLETE'],
      [{ runIds: [run.id, other.id], analyst: 'm' }, 400, 'MIXED_WORKFLOWS'],
      [{ runIds: [other.id], analyst: 'm' }, 400, 'NOT_INGESTIBLE'],
    ];
    for (const [body, status, code] of cases) {
      const r = await post(body);
      expect({ body, status: r.status, code: r.body?.error?.code }).toEqual({ body, status, code });
      expect(r.body.error.message.length).toBeGreaterThan(5);
    }
    expect((await post({ runIds: [run.id], analyst: 'm' }, 'viewer')).status).toBe(403);
    // Nothing changed: the good run can still be ingested.
    expect((await runOf(run.id)).archiveState).toBe('not_ingested');
    expect((await post({ runIds: [run.id], analyst: 'm' })).status).toBe(202);
  }, 180_000);
});

describe('vlass_calibration_ingestion', () => {
  test("returns the calibration's product name for the manager's token", async () => {
    const eb = `VLASS2.1.sb38573828.eb${Date.now()}.59073.${nonce()}`;
    const cal = await launch(
      'vlass_calibration',
      eb,
      { epoch: 'VLASS2.1' },
      { files: { 'PPR.xml': PPR }, correlationId: 'cal-token-42' },
    );
    expect(cal.state).toBe('complete');
    const res = await stack.call('POST', `/api/v1/runs/${cal.id}/ingest`, {
      role: 'service',
      body: { qa: 'pass', analyst: 'vlass-manager' },
    });
    expect(res.status).toBe(202);
    expect(res.body.ingestionRun).toMatchObject({
      workflow: 'vlass_calibration_ingestion',
      sourceRunId: cal.id,
      sourceRunIds: [cal.id],
      correlationId: 'cal-token-42',
    });
    expect((await stack.waitForRun(res.body.ingestionRun.id)).state).toBe('complete');
    const ingested = (await eventsOf(cal.id)).find((e) => e.type === 'ingested');
    expect(ingested.correlationId).toBe('cal-token-42');
    expect(ingested.products.map((p: any) => [p.name, p.kind])).toEqual([
      [`${eb}.cal.r${cal.id}`, 'calibration'],
    ]);
    const subject = await stack.call('GET', `/api/v1/archive/subjects/${encodeURIComponent(eb)}`, {
      role: 'viewer',
    });
    expect(subject.body.calibrationStatus).toBe('Calibrated');
  }, 90_000);

  test('a calibration whose products are gone fails its ingestion; the manager learns ingestion-failed', async () => {
    const eb = `VLASS2.1.sb38573828.eb${Date.now()}.59073.${nonce()}`;
    const cal = await launch(
      'vlass_calibration',
      eb,
      { epoch: 'VLASS2.1' },
      { files: { 'PPR.xml': PPR }, correlationId: 'cal-token-43' },
    );
    expect(cal.state).toBe('complete');
    fs.rmSync(path.join(cal.resultsDir, 'products'), { recursive: true, force: true });
    const res = await stack.call('POST', `/api/v1/runs/${cal.id}/ingest`, {
      role: 'service',
      body: { qa: 'pass', analyst: 'vlass-manager' },
    });
    expect(res.status).toBe(202);
    const done = await stack.waitForRun(res.body.ingestionRun.id, ['complete', 'failed'], 90_000);
    expect(done.state).toBe('failed');
    expect(done.error.message).toContain('prepare');
    const events = await eventsOf(cal.id);
    const failed = events.find((e) => e.type === 'ingestion-failed');
    expect(failed).toMatchObject({ correlationId: 'cal-token-43', archiveState: 'ingest_failed' });
    expect(events.some((e) => e.type === 'ingested')).toBe(false);
  }, 120_000);
});
