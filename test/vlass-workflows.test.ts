/**
 * The six VLASS processing workflows end to end on the real services, as
 * the VLASS manager drives them: create the run into a results directory it
 * names, upload its files, submit, and follow the run. For each: a success
 * (every job's stage as defined, in the events and the jobs list; the
 * products where the definition says; the QA verdict stored as the QA job's
 * result) and the failure its tools can produce (SIMFAIL-<TOOL> in the
 * subject), which fails the run naming the job, with the tool's message in
 * its log. For SECI: one split instance per item of the plan, and one
 * failing item fails the run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startStack, Stack } from '@wfs/testing';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

const nonce = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const TILE = { epoch: 'VLASS2.1', tile: 'T10t12', phaseCenter: 'J101700+433000' };
const PPR = Buffer.from(
  '<?xml version="1.0" encoding="UTF-8"?>\n<ns2:SciPipeRequest xmlns:ns2="Common/pipelinescience">' +
    '<ProcessingRequests><ProcessingRequest><ProcessingProcedure><ProcedureTitle>VLASS</ProcedureTitle>' +
    '</ProcessingProcedure></ProcessingRequest></ProcessingRequests></ns2:SciPipeRequest>\n',
);

/** The stages of each workflow's jobs, as its definition gives them. */
const STAGES: Record<string, Record<string, string>> = {
  vlass_quicklook: { fetch: 'gathering data', casa: 'running casa', qa: 'post casa work' },
  vlass_calibration: { fetch: 'gathering data', casa: 'running casa' },
  vlass_se_calibration: { fetch: 'gathering data', casa: 'running casa' },
  vlass_se_continuum_imaging: {
    fetch: 'gathering data',
    casa: 'running casa',
    qa: 'post casa work',
    components: 'post casa work',
  },
  vlass_se_coarse_cube_imaging: {
    fetch: 'gathering data',
    casa: 'running casa',
    qa: 'post casa work',
    components: 'post casa work',
  },
  vlass_seci_split_measurement_sets: {
    plan: 'gathering data',
    fetch: 'gathering data',
    split: 'running casa',
    report: 'post casa work',
  },
};

interface Launched {
  run: any;
  jobs: any[];
  events: any[];
  dir: string;
}

/** What the manager does: create into its resultsDir, upload, submit; then wait for the end. */
async function launch(
  workflow: string,
  subject: string,
  parameters: Record<string, unknown>,
  files: Record<string, Buffer> = {},
): Promise<Launched> {
  const resultsDir = path.join(stack.config.resultsRoots[0] as string, 'vlass', workflow, nonce());
  const created = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    role: 'service',
    body: { subject, parameters, resultsDir },
  });
  expect(created.status).toBe(201);
  const id = created.body.id as number;
  for (const [name, bytes] of Object.entries(files)) {
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
  const run = await stack.waitForRun(id);
  const jobs = (await stack.call('GET', `/api/v1/runs/${id}/jobs?limit=1000`, { role: 'viewer' }))
    .body.items;
  const events = (
    await stack.call('GET', `/api/v1/runs/${id}/events?limit=5000`, { role: 'viewer' })
  ).body.items;
  expect(run.resultsDir).toBe(resultsDir);
  return { run, jobs, events, dir: resultsDir };
}

const job = (l: Launched, name: string, index = 0) =>
  l.jobs.find((j) => j.name === name && j.index === index);
const products = (l: Launched) => fs.readdirSync(path.join(l.dir, 'products')).sort();
const readJson = (l: Launched, file: string) =>
  JSON.parse(fs.readFileSync(path.join(l.dir, 'products', file), 'utf8'));
const log = async (l: Launched, name: string, stream: 'stdout' | 'stderr', index = 0) =>
  (
    await stack.call('GET', `/api/v1/runs/${l.run.id}/jobs/${name}/${index}/log?stream=${stream}`, {
      role: 'viewer',
    })
  ).text;

/** Every job's stage is the defined one, in the jobs list and in every job event. */
function expectStages(l: Launched): void {
  const stages = STAGES[l.run.workflow] as Record<string, string>;
  expect(new Set(l.jobs.map((j) => j.name))).toEqual(new Set(Object.keys(stages)));
  for (const j of l.jobs)
    expect({ job: j.name, stage: j.stage }).toEqual({ job: j.name, stage: stages[j.name] });
  const jobEvents = l.events.filter((e) => e.job);
  expect(jobEvents.length).toBeGreaterThan(0);
  for (const e of jobEvents)
    expect({ job: e.job.name, stage: e.job.stage }).toEqual({
      job: e.job.name,
      stage: stages[e.job.name],
    });
  // The manager sees the three stages go by in order.
  const seen = [
    ...new Set(
      l.events
        .filter((e) => e.type === 'job-started' || e.type === 'group-progress')
        .map((e) => e.job?.stage ?? e.progress.stage),
    ),
  ];
  expect(seen).toEqual([...new Set(Object.values(stages))]);
}

/** The run failed at `name` (exit 1 of a survey tool), naming it, with `message` in its stderr. */
async function expectToolFailure(l: Launched, name: string, message: RegExp, index = 0) {
  expect(l.run.state).toBe('failed');
  expect(l.run.error.code).toBe('exit_code');
  expect(l.run.error.message).toContain(name);
  expect(job(l, name, index)).toMatchObject({
    state: 'failed',
    exitCode: 1,
    statusReason: expect.stringContaining('exit_code'),
  });
  expect(await log(l, name, 'stderr', index)).toMatch(message);
  const failed = l.events.filter((e) => e.type === 'job-failed');
  expect(
    failed.some((e) => e.job.name === name && e.job.stage === STAGES[l.run.workflow]?.[name]),
  ).toBe(true);
}

describe('vlass_quicklook', () => {
  const imageName = 'VLASS2.1.ql.T10t12.J101700+433000.10.2048.v1';
  const params = {
    ...TILE,
    imageName,
    executionBlocks: [
      'VLASS2.1.sb38573828.eb38594022.59073.83',
      'VLASS2.1.sb38573828.eb38594023.59074.81',
    ],
  };

  test('fetches each EB, images the tile and stores the automatic QA verdict', async () => {
    const l = await launch('vlass_quicklook', `${imageName}.${nonce()}`, params, {
      'PPR.xml': PPR,
    });
    expect(l.run.state).toBe('complete');
    expect(l.run.qaState).toBe('not_required');
    expectStages(l);
    expect(l.jobs.filter((j) => j.name === 'fetch')).toHaveLength(2);
    expect(fs.readdirSync(path.join(l.dir, 'rawdata')).sort()).toEqual(params.executionBlocks);
    expect(products(l)).toEqual(
      expect.arrayContaining([
        `${imageName}.I.iter1.image.pbcor.tt0.subim.fits`,
        `${imageName}.I.iter1.image.pbcor.tt0.rms.subim.fits`,
        `${imageName}.qa.json`,
        'annotateqa_inputs_used.json',
        'weblog.tgz',
      ]),
    );
    expect(job(l, 'qa').result).toEqual({ qa: 'pass', images: 2, rmsMicroJy: expect.any(Number) });
    const qa = readJson(l, `${imageName}.qa.json`);
    expect(qa.images.map((i: any) => i.file)).toEqual([
      `${imageName}.I.iter1.image.pbcor.tt0.rms.subim.fits`,
      `${imageName}.I.iter1.image.pbcor.tt0.subim.fits`,
    ]);
    expect(qa.images[1].beam).toMatchObject({ majorArcsec: expect.any(Number) });
    expect(Object.keys(readJson(l, 'annotateqa_inputs_used.json'))).toHaveLength(2);
    expect(await log(l, 'casa', 'stdout')).toContain('Executing pipeline recipe vlass_ql_imaging');
  }, 30_000);

  test("SIMFAIL-ANNOTATEQA: the QA job fails the run with the script's traceback", async () => {
    const l = await launch(
      'vlass_quicklook',
      `${imageName}.SIMFAIL-ANNOTATEQA.${nonce()}`,
      params,
      {
        'PPR.xml': PPR,
      },
    );
    await expectToolFailure(l, 'qa', /RuntimeError: annotateqa: cannot fit the restoring beam/);
    expect(job(l, 'casa').state).toBe('completed');
    expect(products(l)).not.toContain(`${imageName}.qa.json`);
  }, 30_000);

  test('a run without the PPR the manager must upload is refused at submit', async () => {
    const created = await stack.call('POST', '/api/v1/workflows/vlass_quicklook/runs', {
      role: 'service',
      body: { subject: `${imageName}.${nonce()}`, parameters: params },
    });
    const submit = await stack.call('POST', `/api/v1/runs/${created.body.id}/submit`, {
      role: 'service',
    });
    expect(submit.status).toBe(400);
    expect(submit.body.error.code).toBe('MISSING_INPUT');
  });
});

describe.each([
  ['vlass_calibration', { 'PPR.xml': PPR, 'flux.csv': Buffer.from('ms,field,spw,fluxdensity\n') }],
  [
    'vlass_se_calibration',
    { 'PPR.xml': PPR, 'flagtemplate.txt': Buffer.from("mode='manual' antenna='ea05'\n") },
  ],
])('%s', (workflow, files) => {
  const eb = () => `VLASS2.1.sb38573828.eb${Date.now()}.59073.${nonce()}`;

  test('fetches the EB and leaves hifv calibration products, recording the files it was given', async () => {
    const subject = eb();
    const l = await launch(workflow, subject, { epoch: 'VLASS2.1' }, files);
    expect(l.run.state).toBe('complete');
    expectStages(l);
    expect(products(l)).toEqual(
      expect.arrayContaining([
        `${subject}.ms.calapply.txt`,
        `${subject}.caltables.tgz`,
        `${subject}.ms.flagversions.tgz`,
        'pipeline_manifest.xml',
        'weblog.tgz',
      ]),
    );
    expect(products(l).some((f) => f.endsWith('.fits'))).toBe(false);
    const used = readJson(l, 'inputs_used.json');
    for (const name of Object.keys(files))
      expect(used[name]).toMatchObject({ size: files[name as keyof typeof files]?.length });
  }, 30_000);

  test('SIMFAIL-SEVERE: CASA exits 0 with a SEVERE line, and the run fails (CASA standard)', async () => {
    const l = await launch(workflow, `${eb()}.SIMFAIL-SEVERE`, { epoch: 'VLASS2.1' }, files);
    expect(l.run.state).toBe('failed');
    expect(l.run.error.code).toBe('severe_in_log');
    expect(job(l, 'casa')).toMatchObject({ state: 'failed', exitCode: 0 });
    expect(l.run.error.message).toContain('SEVERE');
  }, 30_000);
});

describe('vlass_se_continuum_imaging', () => {
  const imageName = 'VLASS2.1.se.T10t12.J101700+433000.06.2048.v1';
  const params = {
    ...TILE,
    imageName,
    calibrations: ['VLASS2.1.sb38573828.eb38594022.59073.83.secal'],
  };

  test('images the tile, runs annotateQaSE and makes the component list', async () => {
    const l = await launch('vlass_se_continuum_imaging', `${imageName}.${nonce()}`, params, {
      'PPR.xml': PPR,
    });
    expect(l.run.state).toBe('complete');
    expectStages(l);
    const tt0 = `${imageName}.I.iter3.image.pbcor.tt0.subim`;
    expect(products(l)).toEqual(
      expect.arrayContaining([
        `${tt0}.fits`,
        `${imageName}.I.iter3.image.pbcor.tt1.subim.fits`,
        `${imageName}.I.iter3.image.pbcor.alpha.subim.fits`,
        `${imageName}.qa.json`,
        `${tt0}.components.csv`,
      ]),
    );
    expect(job(l, 'qa').result).toEqual({ qa: 'pass', images: 5, rmsMicroJy: expect.any(Number) });
    const csv = fs.readFileSync(path.join(l.dir, 'products', `${tt0}.components.csv`), 'utf8');
    const [header, ...rows] = csv.trim().split('\n');
    expect(header).toMatch(/^Source_id,RA,E_RA,DEC,E_DEC,Total_flux,E_Total_flux/);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    // Around the tile's phase centre (10h17m = 154.25 deg, +43.5 deg).
    expect(Math.abs(Number(rows[0]?.split(',')[1]) - 154.25)).toBeLessThan(0.5);
  }, 30_000);

  test("SIMFAIL-ANNOTATEQASE fails the QA job (and not quick-look's annotateQa token)", async () => {
    const l = await launch(
      'vlass_se_continuum_imaging',
      `${imageName}.SIMFAIL-ANNOTATEQASE.${nonce()}`,
      params,
      { 'PPR.xml': PPR },
    );
    await expectToolFailure(l, 'qa', /RuntimeError: annotateqase:/);
  }, 30_000);

  test('SIMFAIL-CREATECOMPONENTLIST fails the component list job', async () => {
    const l = await launch(
      'vlass_se_continuum_imaging',
      `${imageName}.SIMFAIL-CREATECOMPONENTLIST.${nonce()}`,
      params,
      { 'PPR.xml': PPR },
    );
    await expectToolFailure(l, 'components', /PyBDSF process_image failed/);
  }, 30_000);
});

describe('vlass_se_coarse_cube_imaging', () => {
  const imageName = 'VLASS2.1.cc.T10t12.J101700+433000.06.2048.v1';
  const params = {
    ...TILE,
    imageName,
    reimagingResources: [
      `VLASS2.1.se.T10t12.J101700+433000.06.2048.v1.split`,
      'VLASS2.1.se.T10t12.mask',
    ],
  };

  test('fetches the reimaging resources, images per spw, QA and a component list per spw', async () => {
    const l = await launch('vlass_se_coarse_cube_imaging', `${imageName}.${nonce()}`, params, {
      'PPR.xml': PPR,
    });
    expect(l.run.state).toBe('complete');
    expectStages(l);
    expect(fs.readdirSync(path.join(l.dir, 'rawdata')).sort()).toEqual(
      [...params.reimagingResources].sort(),
    );
    for (const spw of [2, 7, 12, 17]) {
      expect(products(l)).toContain(`${imageName}.I.iter3.image.pbcor.spw${spw}.subim.fits`);
      expect(products(l)).toContain(
        `${imageName}.I.iter3.image.pbcor.spw${spw}.subim.components.csv`,
      );
    }
    expect(l.jobs.filter((j) => j.name === 'components')).toHaveLength(4);
    expect(job(l, 'qa').result).toEqual({ qa: 'pass', images: 8, rmsMicroJy: expect.any(Number) });
  }, 30_000);

  test('SIMFAIL-CREATECUBECOMPONENTLIST fails the component lists', async () => {
    const l = await launch(
      'vlass_se_coarse_cube_imaging',
      `${imageName}.SIMFAIL-CREATECUBECOMPONENTLIST.${nonce()}`,
      params,
      { 'PPR.xml': PPR },
    );
    const index = l.jobs.find((j) => j.name === 'components' && j.state === 'failed')?.index ?? 0;
    await expectToolFailure(l, 'components', /create_cube_component_list: PyBDSF/, index);
    expect(job(l, 'qa').state).not.toBe('failed');
  }, 30_000);
});

describe('vlass_seci_split_measurement_sets', () => {
  const subject = () => `VLASS2.1.seci.T10t12.J101700+433000.${nonce()}`;
  const params = { ...TILE, calibrations: ['VLASS2.1.sb38573828.eb38594022.59073.83.secal'] };

  test('one split instance per measurement set of the plan, each cached, then the report', async () => {
    const l = await launch('vlass_seci_split_measurement_sets', subject(), { ...params, count: 5 });
    expect(l.run.state).toBe('complete');
    expectStages(l);
    const items = job(l, 'plan').result.items as string[];
    expect(items).toHaveLength(5);
    expect(items[0]).toBe('VLASS2.1_T10t12_J101700+433000_001');
    const splits = l.jobs.filter((j) => j.name === 'split');
    expect(splits).toHaveLength(items.length);
    expect(splits.every((j) => j.state === 'completed')).toBe(true);
    for (const item of items) {
      expect(fs.existsSync(path.join(l.dir, 'products', `${item}.split.ms`, 'table.info'))).toBe(
        true,
      );
      expect(readJson(l, `${item}.split.json`)).toMatchObject({
        item,
        restoredFrom: path.join(l.dir, 'rawdata'),
      });
    }
    expect(readJson(l, 'pimscache_report.json')).toMatchObject({ split: 5, items });
    expect(job(l, 'report').result).toEqual({ split: 5, items });
    // The progress lines the old command line showed, in each instance's log.
    const out = await log(l, 'split', 'stdout', 3);
    expect(out).toMatch(/restoring the calibration[\s\S]*splitting[\s\S]*caching/);
    // events: summary: no started/completed per measurement set, but group-progress ("split 5/5").
    expect(l.events.filter((e) => e.job?.name === 'split')).toEqual([]);
    const progress = l.events.filter((e) => e.type === 'group-progress');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    for (const e of progress) expect(e.progress).toMatchObject({ job: 'split', total: 5 });
    expect(progress.at(-1).progress).toMatchObject({ completed: 5, running: 0, failed: 0 });
  }, 30_000);

  test('SIMFAIL-PIMSCACHE-ITEM2: only the second item fails, and it fails the run', async () => {
    const l = await launch(
      'vlass_seci_split_measurement_sets',
      `${subject()}.SIMFAIL-PIMSCACHE-ITEM2`,
      {
        ...params,
        count: 3,
      },
    );
    expect(l.jobs.filter((j) => j.name === 'split')).toHaveLength(3);
    await expectToolFailure(l, 'split', /_002: ERROR restoring calibration/, 1);
    expect(job(l, 'split', 1).attempts).toBe(2); // retried once, as the definition says
    expect(l.jobs.filter((j) => j.name === 'split' && j.state === 'failed')).toHaveLength(1);
    expect(job(l, 'report').state).not.toBe('completed');
  }, 40_000);

  test('SIMFAIL-PIMSCACHE fails every split', async () => {
    const l = await launch('vlass_seci_split_measurement_sets', `${subject()}.SIMFAIL-PIMSCACHE`, {
      ...params,
      count: 2,
    });
    // The first instance to fail (after its retry) fails the run; one still waiting is stopped ("run failed").
    const failed = l.jobs.filter((j) => j.name === 'split' && j.state === 'failed');
    expect(failed.length).toBeGreaterThanOrEqual(1);
    await expectToolFailure(l, 'split', /ERROR restoring calibration/, failed[0].index);
    expect(job(l, 'plan').state).toBe('completed');
  }, 40_000);
});
