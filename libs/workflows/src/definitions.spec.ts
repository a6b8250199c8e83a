import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import { planRun, WorkflowDefinition } from '@wfs/domain';
import { DefinitionError, loadDefinitions } from './load-definitions';

const REPO = path.resolve(__dirname, '../../..');
const WORKFLOWS = path.join(REPO, 'workflows');
const SIMULATORS = path.join(REPO, 'tools', 'simulators');

/** Instances per job name of a plan. */
function countsOf(
  def: WorkflowDefinition,
  parameters: Record<string, unknown>,
  max = 1_000_000,
): Record<string, number> {
  return Object.fromEntries(
    planRun(def.jobs, parameters, max).map((g) => [g.name, g.items ? g.items.length : 1]),
  );
}

function withDefaults(
  def: WorkflowDefinition,
  parameters: Record<string, unknown>,
): Record<string, unknown> {
  const copy = structuredClone(parameters);
  const validate = new Ajv({ useDefaults: true, strict: false }).compile(def.parameters);
  if (!validate(copy)) throw new Error(JSON.stringify(validate.errors));
  return copy;
}

describe('shipped workflow definitions', () => {
  const defs = loadDefinitions(WORKFLOWS);
  const byName = new Map(defs.map((d) => [d.name, d]));
  const get = (name: string): WorkflowDefinition => {
    const def = byName.get(name);
    if (!def) throw new Error(`workflow ${name} is not shipped`);
    return def;
  };

  it('loads every file of workflows/, including std_calibration and radps_skeleton', () => {
    expect(defs.length).toBe(fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).length);
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining(['std_calibration', 'radps_skeleton']),
    );
    for (const def of defs) expect(def.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('only uses tools for which the repository ships a simulator', () => {
    for (const def of defs) {
      for (const job of def.jobs.filter((j) => !j.executable.startsWith('builtin:'))) {
        const simulator = path.join(SIMULATORS, job.executable);
        expect({ job: `${def.name}.${job.name}`, exists: fs.existsSync(simulator) }).toEqual({
          job: `${def.name}.${job.name}`,
          exists: true,
        });
      }
    }
  });

  describe('std_calibration', () => {
    it('is a VLA execution-block workflow that needs QA and mails the DAs', () => {
      const def = get('std_calibration');
      expect(def).toMatchObject({
        subjectKind: 'execution_block',
        telescope: 'VLA',
        requiresQa: true,
      });
      expect(def.inputs.map((i) => [i.name, i.required])).toEqual([
        ['PPR.xml', false],
        ['flagtemplate.txt', false],
        ['flux.csv', false],
      ]);
      expect(def.notify).toEqual({ started: ['da'], complete: ['da'], failed: ['da'] });
      expect(def.products.weblog).toEqual(['weblog.tgz']);
    });

    it('fetches, runs CASA under the CASA completion standard, then delivers to QA', () => {
      const def = get('std_calibration');
      const jobs = Object.fromEntries(def.jobs.map((j) => [j.name, j]));
      expect(Object.keys(jobs)).toEqual(['fetch', 'casa', 'deliver']);
      expect(jobs.fetch).toMatchObject({
        stage: 'gathering data',
        executable: 'productfetcher',
        retries: 2,
        needs: [],
      });
      expect(jobs.fetch?.outputs).toEqual(['rawdata/{{fileSafeSubject}}']);
      expect(jobs.casa).toMatchObject({
        stage: 'running casa',
        executable: 'casa',
        success: 'casa',
        needs: ['fetch'],
        timeout: 86400,
      });
      expect(jobs.casa?.outputs).toContain('products/weblog.tgz');
      expect(jobs.casa?.arguments).toEqual(
        expect.arrayContaining(['--inputs', '{{dirs.inputs}}', '--products', '{{dirs.products}}']),
      );
      expect(jobs.deliver).toMatchObject({
        stage: 'post casa work',
        executable: 'builtin:deliver_to_qa',
        needs: ['casa'],
      });
      expect(countsOf(def, withDefaults(def, {}))).toEqual({ fetch: 1, casa: 1, deliver: 1 });
    });

    it('has a closed parameter schema with a default recipe', () => {
      const def = get('std_calibration');
      expect(withDefaults(def, {})).toEqual({ recipe: 'hifv' });
      expect(() => withDefaults(def, { bogus: 1 })).toThrow();
      expect(() => withDefaults(def, { casaVersion: '6.6.1-17; rm -rf /' })).toThrow();
      expect(withDefaults(def, { casaVersion: '6.6.1-17' })).toEqual({
        recipe: 'hifv',
        casaVersion: '6.6.1-17',
      });
    });
  });

  describe('radps_skeleton', () => {
    it('requires the target shape and defaults workSeconds to 0', () => {
      const def = get('radps_skeleton');
      expect(def).toMatchObject({ subjectKind: 'none', requiresQa: false });
      expect(withDefaults(def, { nField: 1, nSpw: 3, nScan: 4 })).toEqual({
        nField: 1,
        nSpw: 3,
        nScan: 4,
        workSeconds: 0,
      });
      for (const bad of [
        {},
        { nField: 0, nSpw: 3, nScan: 4 },
        { nField: 1, nSpw: 101, nScan: 4 },
        { nField: 1, nSpw: 3, nScan: 1.5 },
      ]) {
        expect(() => withDefaults(def, bad)).toThrow();
      }
      for (const job of def.jobs) {
        expect(job.executable).toBe('builtin:work');
        expect(job.arguments).toEqual(['{{parameters.workSeconds}}']);
      }
    });

    it('plans the memo example (1 field, 3 spws, 4 scans) job by job', () => {
      const def = get('radps_skeleton');
      const counts = countsOf(def, withDefaults(def, { nField: 1, nSpw: 3, nScan: 4 }));
      expect(counts).toEqual({
        import_bpcal: 3,
        import_gaincal: 3,
        import_target: 12,
        solve_bandpass: 3,
        solve_timegain: 3,
        applycal_calibrators: 6,
        image_calibrators: 6,
        export_calibrator_images: 6,
        checkpoint_calibration: 1,
        calibrate_target: 12,
        contsub_target: 3,
        checkpoint_imaging_prep: 1,
        image_cube: 3,
        image_continuum: 1,
        image_mfs_per_spw: 3,
        export_target_images: 1,
        checkpoint_imaging: 1,
      });
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      expect(total).toBe(68); // 2*F*S*N + 3*F*S + 10*S + 2*F + 3
    });

    it('scatters target jobs over field x spw x scan, field slowest', () => {
      const def = get('radps_skeleton');
      const plan = planRun(def.jobs, { nField: 2, nSpw: 2, nScan: 2, workSeconds: 0 }, 1000);
      const target = plan.find((g) => g.name === 'calibrate_target');
      expect(target?.items?.slice(0, 3)).toEqual([
        { field: 0, spw: 0, scan: 0 },
        { field: 0, spw: 0, scan: 1 },
        { field: 0, spw: 1, scan: 0 },
      ]);
      expect(target?.needs).toEqual(['import_target', 'solve_timegain']);
      const calibrators = plan.find((g) => g.name === 'image_calibrators');
      expect(calibrators?.items).toContainEqual({ source: 'gaincal', spw: 1 });
    });

    it('makes about ten thousand instances for 1 field, 50 spws, 100 scans', () => {
      const def = get('radps_skeleton');
      const counts = countsOf(def, { nField: 1, nSpw: 50, nScan: 100, workSeconds: 0 });
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      expect(total).toBe(2 * 5000 + 3 * 50 + 10 * 50 + 2 + 3);
      expect(total).toBeGreaterThanOrEqual(10_000);
      expect(total).toBeLessThanOrEqual(11_000);
    });

    it('is refused by the planner above the instance limit', () => {
      const def = get('radps_skeleton');
      expect(() =>
        planRun(def.jobs, { nField: 10, nSpw: 100, nScan: 1000, workSeconds: 0 }, 100_000),
      ).toThrow(expect.objectContaining({ code: 'TOO_MANY_JOBS' }));
    });
  });

  describe('VLASS', () => {
    const VLASS = [
      'vlass_quicklook',
      'vlass_calibration',
      'vlass_se_calibration',
      'vlass_se_continuum_imaging',
      'vlass_se_coarse_cube_imaging',
      'vlass_seci_split_measurement_sets',
    ];
    const STAGES = ['gathering data', 'running casa', 'post casa work'];
    const tile = { epoch: 'VLASS2.1', tile: 'T10t12', phaseCenter: 'J101700+433000' };
    const jobsOf = (name: string) => Object.fromEntries(get(name).jobs.map((j) => [j.name, j]));

    const INGESTED_WITH: Record<string, string | null> = {
      vlass_quicklook: 'vlass_quicklook_ingestion',
      vlass_calibration: 'vlass_calibration_ingestion',
      vlass_se_calibration: 'vlass_calibration_ingestion',
    };
    it.each(VLASS)('%s: no QA by wfs, its ingestion wired, the survey stages only', (name) => {
      const def = get(name);
      expect(def).toMatchObject({
        requiresQa: false,
        telescope: 'VLA',
        ingestWith: INGESTED_WITH[name] ?? null,
      });
      if (def.ingestWith) expect(get(def.ingestWith).role).toBe('ingestion');
      expect(def.description.length).toBeGreaterThan(40);
      for (const job of def.jobs) expect(STAGES).toContain(job.stage);
      expect(Object.keys(def.products).length).toBeGreaterThan(0);
    });

    it('quicklook: fetch per EB, vlass_ql_imaging, annotateqa as a job', () => {
      const def = get('vlass_quicklook');
      expect(def.subjectKind).toBe('vlass_job');
      expect(def.inputs.map((i) => [i.name, i.required])).toEqual([['PPR.xml', true]]);
      const jobs = jobsOf('vlass_quicklook');
      expect(Object.keys(jobs)).toEqual(['fetch', 'casa', 'qa']);
      expect(jobs.fetch).toMatchObject({ executable: 'productfetcher', stage: 'gathering data' });
      expect(jobs.casa).toMatchObject({ executable: 'casa', success: 'casa', needs: ['fetch'] });
      expect(jobs.casa?.arguments).toEqual(
        expect.arrayContaining(['vlass_ql_imaging', '--image-name', '{{parameters.imageName}}']),
      );
      expect(jobs.qa).toMatchObject({ executable: 'annotateqa', stage: 'post casa work' });
      expect(def.products.primary).toEqual(['*.I.iter1.image.pbcor.tt0.subim.fits']);
      const params = {
        ...tile,
        imageName: 'VLASS2.1.ql.T10t12.J101700+433000.10.2048.v1',
        executionBlocks: ['VLASS2.1.sb1.eb1.59000.1', 'VLASS2.1.sb1.eb2.59000.2'],
      };
      expect(countsOf(def, withDefaults(def, params))).toEqual({ fetch: 2, casa: 1, qa: 1 });
      expect(() => withDefaults(def, { ...params, executionBlocks: [] })).toThrow();
      expect(() => withDefaults(def, { ...params, tile: 'T10-12' })).toThrow();
      expect(() => withDefaults(def, { ...params, phaseCenter: '10:17:00 +43:30:00' })).toThrow();
      expect(() => withDefaults(def, { ...params, epoch: '2.1' })).toThrow();
      expect(() => withDefaults(def, { ...params, imageName: '../x' })).toThrow();
    });

    it('calibration and se_calibration share their jobs (one library) and differ in their files', () => {
      const cal = get('vlass_calibration');
      const se = get('vlass_se_calibration');
      expect(cal.jobs).toEqual(se.jobs);
      expect(Object.keys(jobsOf('vlass_calibration'))).toEqual(['fetch', 'casa']);
      expect(jobsOf('vlass_calibration').casa?.arguments).toContain('hifvcalvlass');
      for (const name of ['vlass_calibration.yaml', 'vlass_se_calibration.yaml']) {
        const text = fs.readFileSync(path.join(WORKFLOWS, name), 'utf8');
        expect(text).toContain('include: [lib/vlass.yaml]');
        expect(text).not.toContain('executable:');
      }
      expect(cal.inputs.map((i) => [i.name, i.required])).toEqual([
        ['PPR.xml', true],
        ['flagtemplate.txt', false],
        ['flux.csv', false],
      ]);
      expect(se.inputs.map((i) => [i.name, i.required])).toEqual([
        ['PPR.xml', true],
        ['flagtemplate.txt', true],
        ['flagtargetstemplate.txt', false],
      ]);
      expect(withDefaults(cal, { epoch: 'VLASS2.1' })).toEqual({ epoch: 'VLASS2.1' });
      expect(() => withDefaults(se, {})).toThrow();
    });

    it('se continuum and coarse cube: fetch, CASA, QA and component lists', () => {
      const cont = jobsOf('vlass_se_continuum_imaging');
      expect(Object.keys(cont)).toEqual(['fetch', 'casa', 'qa', 'components']);
      expect(cont.casa?.arguments).toContain('vlass_se_cont_imaging');
      expect(cont.qa?.executable).toBe('annotateqase');
      expect(cont.components?.executable).toBe('create_component_list');
      const cube = jobsOf('vlass_se_coarse_cube_imaging');
      expect(cube.fetch?.scatter).toEqual({ resource: 'reimagingResources' });
      expect(cube.casa?.arguments).toContain('vlass_se_cube_imaging');
      expect(cube.qa?.executable).toBe('annotateqasecube');
      expect(cube.components).toMatchObject({
        executable: 'create_cube_component_list',
        scatter: { spw: [2, 7, 12, 17] },
      });
      const def = get('vlass_se_coarse_cube_imaging');
      const params = {
        ...tile,
        imageName: 'VLASS2.1.cc.T10t12.J101700+433000.06.2048.v1',
        reimagingResources: ['VLASS2.1.se.T10t12.J101700+433000.06.2048.v1.split'],
      };
      expect(countsOf(def, withDefaults(def, params))).toEqual({
        fetch: 1,
        casa: 1,
        qa: 1,
        components: 4,
      });
    });

    it("seci: plan, then split scattered over the plan's result, then a report", () => {
      const def = get('vlass_seci_split_measurement_sets');
      const jobs = jobsOf('vlass_seci_split_measurement_sets');
      expect(Object.keys(jobs)).toEqual(['plan', 'fetch', 'split', 'report']);
      expect(jobs.plan).toMatchObject({ executable: 'pimscache', stage: 'gathering data' });
      expect(jobs.plan?.arguments[0]).toBe('plan');
      expect(jobs.split).toMatchObject({
        executable: 'pimscache',
        needs: ['plan', 'fetch'],
        scatter: { item: '{{jobs.plan.result.items}}' },
      });
      expect(jobs.report?.needs).toEqual(['split']);
      expect(def.inputs).toEqual([]);
      expect(withDefaults(def, { ...tile, calibrations: ['c1'] })).toMatchObject({ count: 4 });
    });
  });
});

describe('a broken definition', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-defs-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const GOOD = [
    'name: broken',
    'version: 1',
    'description: a test workflow',
    'subjectKind: none',
    'jobs:',
    '  - name: first',
    '    executable: builtin:noop',
    '  - name: second',
    '    executable: builtin:work',
    "    arguments: ['1']",
    '    needs: [first]',
  ];

  function loadError(lines: string[]): DefinitionError {
    const file = path.join(dir, 'broken.yaml');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    try {
      loadDefinitions(dir);
    } catch (e) {
      expect(e).toBeInstanceOf(DefinitionError);
      const error = e as DefinitionError;
      expect(error.file).toBe(file);
      expect(error.message).toContain(file);
      expect(error.message).toContain(error.field);
      return error;
    }
    throw new Error('the definition loaded');
  }

  it('loads when nothing is wrong (the fixture itself is sound)', () => {
    fs.writeFileSync(path.join(dir, 'broken.yaml'), GOOD.join('\n') + '\n');
    expect(loadDefinitions(dir).map((d) => d.name)).toEqual(['broken']);
  });

  it('names the jobs field for an unknown need', () => {
    const error = loadError(
      GOOD.map((l) => (l === '    needs: [first]' ? '    needs: [frist]' : l)),
    );
    expect(error.field).toBe('jobs');
    expect(error.message).toContain('"frist"');
  });

  it('loads a sound when, and names jobs.N.when for each bad one (QUALITY v1.1)', () => {
    fs.writeFileSync(
      path.join(dir, 'broken.yaml'),
      [...GOOD, "    when: jobs.first.state == 'completed' and parameters.x != 3"].join('\n') +
        '\n',
    );
    expect(loadDefinitions(dir)[0]?.jobs[1]?.when).toMatch(/^jobs.first.state/);
    const unknown = loadError([...GOOD, "    when: jobs.frist.result.mode == 'selfcal'"]);
    expect(unknown.field).toBe('jobs.1.when');
    expect(unknown.message).toMatch(/unknown job "frist"/);
    const notNeeded = loadError([
      ...GOOD.slice(0, 7),
      "    when: jobs.second.state == 'completed'",
      ...GOOD.slice(7),
    ]);
    expect(notNeeded.field).toBe('jobs.0.when');
    const syntax = loadError([...GOOD, '    when: jobs.first.state == ']);
    expect(syntax.field).toBe('jobs.1.when');
    expect(syntax.message).toMatch(/column/);
  });

  it('lets a job read only the results of the jobs it needs ({{jobs.<name>.result.<key>}})', () => {
    fs.writeFileSync(
      path.join(dir, 'broken.yaml'),
      [...GOOD, "    env: { MODE: '{{jobs.first.result.mode}}' }"].join('\n') + '\n',
    );
    expect(loadDefinitions(dir)).toHaveLength(1);
    const notNeeded = loadError([
      ...GOOD.slice(0, 7),
      "    arguments: ['{{jobs.second.result.mode}}']",
      ...GOOD.slice(7),
    ]);
    expect(notNeeded.field).toBe('jobs.0.arguments');
    expect(notNeeded.message).toMatch(/does not \(transitively\) need/);
    expect(loadError([...GOOD, "    env: { MODE: '{{jobs.first.state}}' }"]).field).toBe(
      'jobs.1.env',
    );
  });

  it('checks repeat: until may read its own result and round; not an unknown job, not with scatter', () => {
    fs.writeFileSync(
      path.join(dir, 'broken.yaml'),
      [...GOOD, "    repeat: { max: 4, until: 'result.rms < 0.1 or round >= 3' }"].join('\n') +
        '\n',
    );
    expect(loadDefinitions(dir)[0]?.jobs[1]?.repeat).toEqual({
      max: 4,
      until: 'result.rms < 0.1 or round >= 3',
    });
    const unknown = loadError([...GOOD, "    repeat: { max: 4, until: 'jobs.nope.state == 1' }"]);
    expect(unknown.field).toBe('jobs.1.repeat.until');
    const scattered = loadError([
      ...GOOD,
      "    repeat: { max: 4, until: 'round >= 2' }",
      '    scatter: { i: [0, 1] }',
    ]);
    expect(scattered.field).toBe('jobs.1.repeat');
    expect(loadError([...GOOD, "    repeat: { max: 0, until: 'round >= 2' }"]).field).toMatch(
      /^jobs\.1\.repeat/,
    );
  });

  it('checks a dynamic scatter: a result of a job it needs, in the one form', () => {
    fs.writeFileSync(
      path.join(dir, 'broken.yaml'),
      [...GOOD, "    scatter: { spw: '{{jobs.first.result.spws}}' }"].join('\n') + '\n',
    );
    expect(loadDefinitions(dir)).toHaveLength(1);
    const notNeeded = loadError([
      ...GOOD.slice(0, 7),
      "    scatter: { spw: '{{jobs.second.result.spws}}' }",
      ...GOOD.slice(7),
    ]);
    expect(notNeeded.field).toBe('jobs.0.scatter.spw');
    const form = loadError([...GOOD, "    scatter: { spw: '{{parameters.spws}}' }"]);
    expect(form.field).toBe('jobs.1.scatter.spw');
  });

  it('names what a gate lacks or gets wrong: prompt, needs, approvers (QUALITY v1.1)', () => {
    const gate = (lines: string[]) => [
      ...GOOD,
      '  - name: review',
      '    executable: builtin:gate',
      ...lines,
    ];
    expect(loadError(gate(['    needs: [second]'])).field).toBe('jobs.2.prompt');
    expect(loadError(gate(['    prompt: Go on?'])).field).toBe('jobs.2.needs');
    const roles = loadError(
      gate(['    prompt: Go on?', '    needs: [second]', '    approvers: [qa_lead]']),
    );
    expect(roles.field).toBe('jobs.2.approvers');
    expect(roles.message).toMatch(/unknown role\(s\) qa_lead/);
    expect(loadError([...GOOD, '    prompt: Go on?']).field).toBe('jobs.1.prompt');
  });

  it('names an unknown field', () => {
    const error = loadError([...GOOD, '    retires: 3']);
    expect(error.field).toBe('jobs.1.retires');
    expect(error.message).toContain('is not a known field');
  });

  it('names the arguments of a job using an unknown placeholder', () => {
    const error = loadError(
      GOOD.map((l) =>
        l === "    arguments: ['1']" ? "    arguments: ['{{parameters.x}}', '{{dirs.tmp}}']" : l,
      ),
    );
    expect(error.field).toBe('jobs.1.arguments');
    expect(error.message).toContain('{{dirs.tmp}}');
  });

  it('names a scatter item the job does not scatter over', () => {
    const error = loadError([...GOOD, "    outputs: ['products/{{item.spw}}.txt']"]);
    expect(error.field).toBe('jobs.1.outputs');
  });

  it('names a missing required field', () => {
    const error = loadError(GOOD.filter((l) => !l.startsWith('description')));
    expect(error.field).toBe('description');
  });

  it('refuses a name that is not the file name', () => {
    const error = loadError(GOOD.map((l) => (l === 'name: broken' ? 'name: other' : l)));
    expect(error.field).toBe('name');
  });

  it('refuses unreadable YAML', () => {
    const error = loadError(['name: [broken', 'jobs: {']);
    expect(error.field).toBe('(yaml)');
  });
});
