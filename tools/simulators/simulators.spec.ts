import { spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileSafeSubject } from '@wfs/domain';

/** Runs the real simulators as a worker would: argument array, no shell, cwd = working/. */
const FETCHER = path.join(__dirname, 'productfetcher');
const CASA = path.join(__dirname, 'casa');
const PIMSCACHE = path.join(__dirname, 'pimscache');
const VLASS_TOOLS = [
  'pimscache',
  'annotateqa',
  'annotateqase',
  'annotateqasecube',
  'create_component_list',
  'create_cube_component_list',
].map((t) => path.join(__dirname, t));
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

interface RunDir {
  root: string;
  rawdata: string;
  working: string;
  products: string;
  inputs: string;
}

function makeRunDir(): RunDir {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-sim-'));
  const dirs = { root, rawdata: '', working: '', products: '', inputs: '' };
  for (const d of ['rawdata', 'working', 'products', 'inputs'] as const) {
    dirs[d] = path.join(root, d);
    fs.mkdirSync(dirs[d]);
  }
  return dirs;
}

function fetch(subject: string, dest: string): SpawnSyncReturns<string> {
  return spawnSync(FETCHER, ['--subject', subject, '--dest', dest], {
    encoding: 'utf8',
    timeout: 10_000,
  });
}

function casaArgs(run: RunDir, subject: string, recipe = 'hifv'): string[] {
  return [
    '--pipeline',
    recipe,
    '--subject',
    subject,
    '--rawdata',
    run.rawdata,
    '--inputs',
    run.inputs,
    '--products',
    run.products,
  ];
}

function casa(run: RunDir, subject: string, recipe = 'hifv'): SpawnSyncReturns<string> {
  return spawnSync(CASA, casaArgs(run, subject, recipe), {
    cwd: run.working,
    encoding: 'utf8',
    timeout: 20_000,
  });
}

function casaLogs(run: RunDir): string[] {
  return fs.readdirSync(run.working).filter((f) => /^casa-\d{8}-\d{6}\.log$/.test(f));
}

function casaLogText(run: RunDir): string {
  return casaLogs(run)
    .map((f) => fs.readFileSync(path.join(run.working, f), 'utf8'))
    .join('');
}

describe('tool simulators', () => {
  let run: RunDir;
  beforeEach(() => {
    run = makeRunDir();
  });
  afterEach(() => fs.rmSync(run.root, { recursive: true, force: true }));

  it('are executables with a node shebang', () => {
    for (const tool of [FETCHER, CASA, ...VLASS_TOOLS]) {
      expect(fs.readFileSync(tool, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
      expect(fs.statSync(tool).mode & 0o111).not.toBe(0);
    }
  });

  describe('productfetcher', () => {
    it.each([
      '19A-001.sb12345.eb67890.58000.123',
      'uid___A001_X1296_X1d1',
      'VLASS3.1.ql.T10t01.J000000+000000.10.2048.v1',
    ])('makes a synthetic SDM for %s without seeding', (subject) => {
      const result = fetch(subject, run.rawdata);
      expect(result.status).toBe(0);
      expect(result.stdout).toContain(subject);
      const sdm = path.join(run.rawdata, subject);
      for (const f of ['ASDM.xml', 'Main.xml', 'ExecBlock.xml'])
        expect(fs.statSync(path.join(sdm, f)).size).toBeGreaterThan(0);
      expect(fs.readdirSync(path.join(sdm, 'ASDMBinary')).length).toBeGreaterThanOrEqual(2);
      expect(fs.readdirSync(run.rawdata)).toEqual([subject]); // no partial leftovers
    });

    it.each([
      ['uid://A001/X1284/X2c1', 'uid___A001_X1284_X2c1'],
      ['../../x', '_.._.._x'],
    ])('writes %s under its file-safe form %s, inside --dest', (subject, safe) => {
      const result = fetch(subject, run.rawdata);
      expect(result.status).toBe(0);
      expect(fs.readdirSync(run.rawdata)).toEqual([fileSafeSubject(subject)]);
      expect(fileSafeSubject(subject)).toBe(safe);
    });

    it('gives the same dataset when fetched again (a retry replaces it)', () => {
      const subject = '19A-001.sb1.eb2.58000.1';
      expect(fetch(subject, run.rawdata).status).toBe(0);
      const first = fs.readFileSync(path.join(run.rawdata, subject, 'ASDM.xml'));
      expect(fetch(subject, run.rawdata).status).toBe(0);
      expect(fs.readFileSync(path.join(run.rawdata, subject, 'ASDM.xml'))).toEqual(first);
    });

    it.each([
      [[]],
      [['--subject', 'X']],
      [['--dest', '/tmp']],
      [['--subject', 'X', '--dest', '/tmp', '--bogus', '1']],
      [['positional']],
    ])('refuses bad usage %j with exit 2 and a message on stderr', (args) => {
      const result = spawnSync(FETCHER, args, { encoding: 'utf8' });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/usage: productfetcher/);
    });
  });

  describe('casa', () => {
    const subject = '19A-001.sb1.eb2.58000.1';

    it('succeeds quickly, writing a CASA log and realistic products', () => {
      expect(fetch(subject, run.rawdata).status).toBe(0);
      const ppr = '<?xml version="1.0"?>\n<SciPipeRequest><!-- DA edit --></SciPipeRequest>\n';
      fs.writeFileSync(path.join(run.inputs, 'PPR.xml'), ppr);
      fs.writeFileSync(path.join(run.inputs, 'flux.csv'), 'ms,field,spw,frequency,fluxdensity\n');
      const started = Date.now();
      const result = casa(run, subject);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/INFO\s+hifv_importdata::::casa/);

      expect(casaLogs(run)).toHaveLength(1);
      const log = casaLogText(run);
      expect(log).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\s+INFO\s+\S+::::casa\s/m);
      expect(log).not.toContain('SEVERE');

      const products = fs.readdirSync(run.products);
      for (const f of [
        `${subject}.ms.calapply.txt`,
        `${subject}.caltables.tgz`,
        'casa_pipescript.py',
        'casa_commands.log',
        'PPR.xml',
        'flux.csv',
        'weblog.tgz',
        'inputs_used.json',
      ]) {
        expect(products).toContain(f);
      }
      expect(fs.readFileSync(path.join(run.products, 'PPR.xml'), 'utf8')).toBe(ppr);
      const weblogDir = products.find((f) => /^pipeline-\d{8}T\d{6}$/.test(f));
      expect(weblogDir).toBeDefined();
      expect(
        fs.readFileSync(path.join(run.products, weblogDir as string, 'html', 'index.html'), 'utf8'),
      ).toContain(subject);
      const tar = gunzipSync(fs.readFileSync(path.join(run.products, 'weblog.tgz')));
      expect(tar.subarray(257, 262).toString()).toBe('ustar');
      expect(tar.subarray(0, 100).toString()).toContain(`${weblogDir}/html/index.html`);
      expect(products.some((f) => f.endsWith('.fits'))).toBe(false); // not an imaging recipe

      const used = JSON.parse(fs.readFileSync(path.join(run.products, 'inputs_used.json'), 'utf8'));
      expect(used).toEqual({
        'PPR.xml': { sha256: sha256(ppr), size: Buffer.byteLength(ppr) },
        'flagtemplate.txt': null,
        'flux.csv': { sha256: sha256('ms,field,spw,frequency,fluxdensity\n'), size: 35 },
        'flagtargetstemplate.txt': null,
      });
    });

    it('records the new files a re-run was given', () => {
      fs.writeFileSync(path.join(run.inputs, 'flagtemplate.txt'), "mode='manual' antenna='ea01'\n");
      expect(casa(run, subject).status).toBe(0);
      const rerun = makeRunDir();
      try {
        const template = "mode='manual' antenna='ea01'\nmode='manual' antenna='ea07' scan='3'\n";
        fs.writeFileSync(path.join(rerun.inputs, 'flagtemplate.txt'), template);
        expect(casa(rerun, subject).status).toBe(0);
        const before = JSON.parse(
          fs.readFileSync(path.join(run.products, 'inputs_used.json'), 'utf8'),
        );
        const after = JSON.parse(
          fs.readFileSync(path.join(rerun.products, 'inputs_used.json'), 'utf8'),
        );
        expect(after['flagtemplate.txt']).toEqual({
          sha256: sha256(template),
          size: Buffer.byteLength(template),
        });
        expect(after['flagtemplate.txt'].sha256).not.toBe(before['flagtemplate.txt'].sha256);
        expect(casaLogText(rerun)).toContain('Applying 2 flag commands from flagtemplate.txt');
      } finally {
        fs.rmSync(rerun.root, { recursive: true, force: true });
      }
    });

    it('generates a default PPR in working/ when none is given', () => {
      fs.rmSync(run.inputs, { recursive: true });
      expect(casa(run, subject).status).toBe(0);
      const ppr = fs.readFileSync(path.join(run.working, 'PPR.xml'), 'utf8');
      expect(ppr).toContain(`<SdmIdentifier>${subject}</SdmIdentifier>`);
      expect(fs.readFileSync(path.join(run.products, 'PPR.xml'), 'utf8')).toBe(ppr);
      const used = JSON.parse(fs.readFileSync(path.join(run.products, 'inputs_used.json'), 'utf8'));
      expect(used).toEqual({
        'PPR.xml': null,
        'flagtemplate.txt': null,
        'flux.csv': null,
        'flagtargetstemplate.txt': null,
      });
    });

    it('writes FITS images for imaging recipes', () => {
      expect(casa(run, subject, 'hifv_calimage_cont').status).toBe(0);
      const images = fs.readdirSync(run.products).filter((f) => f.endsWith('.fits'));
      expect(images).toEqual(expect.arrayContaining([expect.stringMatching(/\.pbcor\.fits$/)]));
      for (const f of images) {
        const bytes = fs.readFileSync(path.join(run.products, f));
        expect(bytes.length % 2880).toBe(0);
        expect(bytes.subarray(0, 30).toString()).toBe('SIMPLE  =                    T');
      }
    });

    it('SIMFAIL-SEVERE writes a SEVERE line to the CASA log and exits 0', () => {
      const result = casa(run, `${subject}.SIMFAIL-SEVERE`);
      expect(result.status).toBe(0);
      // The subject itself contains "SEVERE", so match the level column, not the whole line.
      const severe = casaLogText(run)
        .split('\n')
        .filter((l) => /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\s+SEVERE\s/.test(l));
      expect(severe.length).toBeGreaterThan(0);
      expect(severe[0]).toMatch(/\tSEVERE\s+\thifv_flagdata::::casa\tTask raised an exception/);
    });

    it('SIMFAIL-EXIT3 exits with status 3 after writing its log', () => {
      const result = casa(run, `${subject}.SIMFAIL-EXIT3`);
      expect(result.status).toBe(3);
      expect(casaLogText(run)).toContain('CASA exits with status 3');
      expect(fs.existsSync(path.join(run.products, 'weblog.tgz'))).toBe(false);
    });

    it('SIMSLOW-<s> runs for s seconds, printing progress', () => {
      const started = Date.now();
      const result = casa(run, `SIMSLOW-1.${subject}`);
      expect(result.status).toBe(0);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(result.stdout).toContain('processing... 1/1 s');
    });

    it('exits promptly on SIGTERM', async () => {
      const child = spawn(CASA, casaArgs(run, `${subject}.SIMSLOW-30`), {
        cwd: run.working,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('processing... 1/30 s')) child.kill('SIGTERM');
      });
      const started = Date.now();
      const code = await new Promise<number | null>((resolve) =>
        child.on('close', (c) => resolve(c)),
      );
      expect(code).toBe(143);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(casaLogText(run)).toContain('Received SIGTERM');
    }, 20_000);

    it.each([
      [['--pipeline', 'hifv']],
      [
        [
          '--pipeline',
          'hifv',
          '--subject',
          'X',
          '--rawdata',
          'r',
          '--products',
          'p',
          '--frobnicate',
          'y',
        ],
      ],
      [['--pipeline', 'hifv', '--subject', 'X', '--rawdata', 'r', '--products']],
      [['hifv']],
    ])('refuses bad usage %j with exit 2 and a message on stderr', (args) => {
      const result = spawnSync(CASA, args, { cwd: run.working, encoding: 'utf8' });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/usage: casa/);
      expect(casaLogs(run)).toHaveLength(0);
    });
  });

  describe('casa VLASS recipes', () => {
    const ql = 'VLASS2.1.ql.T10t12.J101700+433000.10.2048.v1';
    const vlass = (recipe: string, subject = 'VLASS2.1.job', extra: string[] = []) =>
      spawnSync(CASA, [...casaArgs(run, subject, recipe), ...extra], {
        cwd: run.working,
        encoding: 'utf8',
        timeout: 20_000,
      });
    const fitsIn = () =>
      fs
        .readdirSync(run.products)
        .filter((f) => f.endsWith('.fits'))
        .sort();

    it.each([
      [
        'vlass_ql_imaging',
        ['I.iter1.image.pbcor.tt0.rms.subim.fits', 'I.iter1.image.pbcor.tt0.subim.fits'],
      ],
      [
        'vlass_se_cont_imaging',
        [
          'I.iter3.image.pbcor.alpha.error.subim.fits',
          'I.iter3.image.pbcor.alpha.subim.fits',
          'I.iter3.image.pbcor.tt0.rms.subim.fits',
          'I.iter3.image.pbcor.tt0.subim.fits',
          'I.iter3.image.pbcor.tt1.subim.fits',
        ],
      ],
      [
        'vlass_se_cube_imaging',
        [12, 17, 2, 7].flatMap((spw) => [
          `I.iter3.image.pbcor.spw${spw}.rms.subim.fits`,
          `I.iter3.image.pbcor.spw${spw}.subim.fits`,
        ]),
      ],
    ])('%s names its images after --image-name', (recipe, suffixes) => {
      const result = vlass(recipe, 'VLASS2.1.job', ['--image-name', ql]);
      expect(result.status).toBe(0);
      expect(result.stdout).toContain(`Executing pipeline recipe ${recipe}`);
      expect(fitsIn()).toEqual(suffixes.map((s) => `${ql}.${s}`));
      for (const f of fitsIn()) {
        const bytes = fs.readFileSync(path.join(run.products, f));
        expect(bytes.length % 2880).toBe(0);
        expect(bytes.toString('latin1', 0, 2880)).toContain('BMAJ    =');
      }
      // Imaging products only: no calibration tables.
      expect(fs.readdirSync(run.products).some((f) => f.includes('caltables'))).toBe(false);
      expect(fs.existsSync(path.join(run.products, 'weblog.tgz'))).toBe(true);
    });

    it('names the images after the subject without --image-name', () => {
      expect(vlass('vlass_ql_imaging', 'VLASS2.1.job.x').status).toBe(0);
      expect(fitsIn()[0]).toBe('VLASS2.1.job.x.I.iter1.image.pbcor.tt0.rms.subim.fits');
    });

    it('hifvcalvlass writes hifv calibration products, flag versions and the manifest', () => {
      const eb = 'VLASS2.1.sb1.eb2.59000.1';
      expect(vlass('hifvcalvlass', eb).status).toBe(0);
      expect(fs.readdirSync(run.products)).toEqual(
        expect.arrayContaining([
          `${eb}.ms.calapply.txt`,
          `${eb}.caltables.tgz`,
          `${eb}.ms.flagversions.tgz`,
          'pipeline_manifest.xml',
          'weblog.tgz',
        ]),
      );
      expect(fitsIn()).toEqual([]);
      expect(casaLogText(run)).toContain('hifv_flagbaddef');
    });

    it('SIMFAIL-EXIT strikes in hif_makeimages of an imaging recipe, before any image', () => {
      const result = vlass('vlass_se_cont_imaging', 'VLASS2.1.job.SIMFAIL-EXIT4');
      expect(result.status).toBe(4);
      expect(casaLogText(run)).toContain('Fatal error in hif_makeimages');
      expect(fitsIn()).toEqual([]);
    });

    it('refuses an --image-name that is not a plain file name', () => {
      const result = vlass('vlass_ql_imaging', 'S', ['--image-name', '../x']);
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/--image-name must be a plain file name/);
    });
  });

  describe('pimscache', () => {
    const pims = (args: string[], subject = 'VLASS2.1.seci.T10t12', env: NodeJS.ProcessEnv = {}) =>
      spawnSync(PIMSCACHE, [args[0] as string, '--subject', subject, ...args.slice(1)], {
        encoding: 'utf8',
        timeout: 10_000,
        env: { ...process.env, ...env },
      });
    const resultFile = () => path.join(run.root, 'result.json');
    const planArgs = (count: number) => [
      'plan',
      '--epoch',
      'VLASS2.1',
      '--tile',
      'T10t12',
      '--phase-center',
      'J101700+433000',
      '--count',
      String(count),
    ];
    const split = (item: string, subject?: string) =>
      pims(
        ['split', '--item', item, '--rawdata', run.rawdata, '--products', run.products],
        subject,
        {
          WFS_RESULT_FILE: resultFile(),
        },
      );

    it('plan lists N deterministic items as its result', () => {
      const result = pims(planArgs(3), undefined, { WFS_RESULT_FILE: resultFile() });
      expect(result.status).toBe(0);
      const items = [1, 2, 3].map((k) => `VLASS2.1_T10t12_J101700+433000_00${k}`);
      expect(JSON.parse(fs.readFileSync(resultFile(), 'utf8'))).toEqual({
        items,
        epoch: 'VLASS2.1',
        tile: 'T10t12',
        phaseCenter: 'J101700+433000',
      });
      for (const item of items) expect(result.stdout).toContain(`found ${item}`);
    });

    it('split restores, splits and caches one item, recording the raw data it read', () => {
      expect(fetch('VLASS2.1.cal1', run.rawdata).status).toBe(0);
      const item = 'VLASS2.1_T10t12_J101700+433000_001';
      const result = split(item);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/restoring the calibration[\s\S]*splitting[\s\S]*caching/);
      expect(fs.existsSync(path.join(run.products, `${item}.split.ms`, 'table.info'))).toBe(true);
      const info = JSON.parse(
        fs.readFileSync(path.join(run.products, `${item}.split.json`), 'utf8'),
      );
      expect(info).toMatchObject({ item, index: 1, restoredFrom: run.rawdata });
      const asdm = fs.readFileSync(path.join(run.rawdata, 'VLASS2.1.cal1', 'ASDM.xml'));
      const used = JSON.parse(
        fs.readFileSync(path.join(run.products, `${item}.pimscache_inputs_used.json`), 'utf8'),
      );
      expect(used['VLASS2.1.cal1/ASDM.xml']).toEqual({ sha256: sha256(asdm), size: asdm.length });
      expect(JSON.parse(fs.readFileSync(resultFile(), 'utf8'))).toMatchObject({ item, index: 1 });
    });

    it('SIMFAIL-PIMSCACHE-ITEM<k> fails item k only; SIMFAIL-PIMSCACHE fails them all', () => {
      const items = [1, 2, 3].map((k) => `VLASS2.1_T10t12_J101700+433000_00${k}`);
      const statuses = items.map((item) => split(item, 'S.SIMFAIL-PIMSCACHE-ITEM2').status);
      expect(statuses).toEqual([0, 1, 0]);
      const failed = split(items[1] as string, 'S.SIMFAIL-PIMSCACHE-ITEM2');
      expect(failed.stderr).toMatch(/_002: ERROR restoring calibration/);
      expect(items.map((item) => split(item, 'S.SIMFAIL-PIMSCACHE').status)).toEqual([1, 1, 1]);
    });

    it('report says what was cached', () => {
      for (const k of [1, 2]) expect(split(`VLASS2.1_T10t12_J101700+433000_00${k}`).status).toBe(0);
      const result = pims(['report', '--products', run.products], undefined, {
        WFS_RESULT_FILE: resultFile(),
      });
      expect(result.status).toBe(0);
      expect(JSON.parse(fs.readFileSync(resultFile(), 'utf8'))).toMatchObject({ split: 2 });
      expect(fs.existsSync(path.join(run.products, 'pimscache_report.json'))).toBe(true);
      fs.rmSync(run.products, { recursive: true });
      expect(pims(['report', '--products', run.products]).status).toBe(1);
    });

    it.each([
      [[]],
      [['bogus']],
      [['plan', '--subject', 'S']],
      [
        [
          'plan',
          '--subject',
          'S',
          '--epoch',
          'VLASS2.1',
          '--tile',
          'T1',
          '--phase-center',
          'J101700+433000',
          '--count',
          '3',
        ],
      ],
      [['split', '--subject', 'S', '--item', '../x', '--rawdata', '/tmp', '--products', '/tmp']],
    ])('refuses bad usage %j with exit 2', (args) => {
      const result = spawnSync(PIMSCACHE, args, { encoding: 'utf8' });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/usage: pimscache/);
    });
  });

  describe('annotateQa, annotateQaSE, annotateQaSECube', () => {
    const name = 'VLASS2.1.ql.T10t12.J101700+433000.10.2048.v1';
    const qa = (tool: string, subject = 'S', imageName = name) =>
      spawnSync(
        path.join(__dirname, tool),
        [
          '--subject',
          subject,
          '--images',
          run.products,
          '--image-name',
          imageName,
          '--out',
          run.products,
        ],
        {
          encoding: 'utf8',
          timeout: 10_000,
          env: { ...process.env, WFS_RESULT_FILE: path.join(run.root, 'r.json') },
        },
      );
    beforeEach(() => {
      expect(
        spawnSync(CASA, [...casaArgs(run, 'S', 'vlass_ql_imaging'), '--image-name', name], {
          cwd: run.working,
        }).status,
      ).toBe(0);
    });

    it.each(['annotateqa', 'annotateqase', 'annotateqasecube'])(
      '%s measures each image, writes <name>.qa.json and the result',
      (tool) => {
        const result = qa(tool);
        expect(result.status).toBe(0);
        expect(JSON.parse(fs.readFileSync(path.join(run.root, 'r.json'), 'utf8'))).toEqual({
          qa: 'pass',
          images: 2,
          rmsMicroJy: expect.any(Number),
        });
        const report = JSON.parse(
          fs.readFileSync(path.join(run.products, `${name}.qa.json`), 'utf8'),
        );
        const image = report.images.find((i: any) => i.kind === 'image');
        // The simulated QL image: ~120 uJy/beam of noise, a 12.5 mJy/beam source, a 2.9" x 2.4" beam.
        expect(image.rmsMicroJy).toBeGreaterThan(60);
        expect(image.rmsMicroJy).toBeLessThan(200);
        expect(image.peakMilliJy).toBeGreaterThan(5); // the source falls between pixels
        expect(image.beam).toEqual({ majorArcsec: 2.9, minorArcsec: 2.4, paDeg: 0 });
        const used = JSON.parse(
          fs.readFileSync(path.join(run.products, `${tool}_inputs_used.json`), 'utf8'),
        );
        const tt0 = `${name}.I.iter1.image.pbcor.tt0.subim.fits`;
        expect(used[tt0].sha256).toBe(sha256(fs.readFileSync(path.join(run.products, tt0))));
      },
    );

    it.each([
      ['annotateqa', 'SIMFAIL-ANNOTATEQA', 'SIMFAIL-ANNOTATEQASE'],
      ['annotateqase', 'SIMFAIL-ANNOTATEQASE', 'SIMFAIL-ANNOTATEQASECUBE'],
      ['annotateqasecube', 'SIMFAIL-ANNOTATEQASECUBE', 'SIMFAIL-ANNOTATEQA'],
    ])('%s fails on %s only (not on %s)', (tool, own, other) => {
      const failed = qa(tool, `S.${own}`);
      expect(failed.status).toBe(1);
      expect(failed.stderr).toMatch(/^Traceback \(most recent call last\):/);
      expect(failed.stderr).toContain(`RuntimeError: ${tool}:`);
      expect(fs.existsSync(path.join(run.products, `${name}.qa.json`))).toBe(false);
      expect(qa(tool, `S.${other}`).status).toBe(0);
    });

    it('fails with a clear message when there is no image of that name', () => {
      const result = qa('annotateqa', 'S', 'VLASS2.1.ql.nothing');
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('no FITS images VLASS2.1.ql.nothing.*.fits in');
    });

    it('SIMSLOW-1 runs a second first; SIGTERM ends it at once', async () => {
      const started = Date.now();
      expect(qa('annotateqa', 'S.SIMSLOW-1').status).toBe(0);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      const child = spawn(path.join(__dirname, 'annotateqa'), [
        '--subject',
        'S.SIMSLOW-30',
        '--images',
        run.products,
        '--image-name',
        name,
        '--out',
        run.products,
      ]);
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('working... 1/30 s')) child.kill('SIGTERM');
      });
      const code = await new Promise<number | null>((resolve) =>
        child.on('close', (c) => resolve(c)),
      );
      expect(code).toBe(143);
    }, 20_000);

    it('refuses bad usage with exit 2', () => {
      const result = spawnSync(path.join(__dirname, 'annotateqase'), ['--images', '/tmp'], {
        encoding: 'utf8',
      });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/usage: annotateqase/);
    });
  });

  describe('create_component_list, create_cube_component_list', () => {
    const name = 'VLASS2.1.se.T10t12.J101700+433000.06.2048.v1';
    const list = (tool: string, image: string, subject = 'S') =>
      spawnSync(
        path.join(__dirname, tool),
        ['--subject', subject, '--image', image, '--out', run.products],
        {
          encoding: 'utf8',
          timeout: 10_000,
        },
      );

    it.each([
      ['create_component_list', 'vlass_se_cont_imaging', 'I.iter3.image.pbcor.tt0.subim'],
      ['create_cube_component_list', 'vlass_se_cube_imaging', 'I.iter3.image.pbcor.spw7.subim'],
    ])('%s lists the sources of one image near its phase centre', (tool, recipe, image) => {
      expect(
        spawnSync(CASA, [...casaArgs(run, 'S', recipe), '--image-name', name], { cwd: run.working })
          .status,
      ).toBe(0);
      const file = path.join(run.products, `${name}.${image}.fits`);
      const result = list(tool, file);
      expect(result.status).toBe(0);
      const csv = fs.readFileSync(
        path.join(run.products, `${name}.${image}.components.csv`),
        'utf8',
      );
      const [header, ...rows] = csv.trim().split('\n');
      expect(header?.split(',').slice(0, 8)).toEqual([
        'Source_id',
        'RA',
        'E_RA',
        'DEC',
        'E_DEC',
        'Total_flux',
        'E_Total_flux',
        'Peak_flux',
      ]);
      expect(rows.length).toBeGreaterThanOrEqual(3);
      for (const row of rows) {
        const [, ra, , dec] = row.split(',').map(Number);
        expect(Math.abs((ra as number) - 154.25)).toBeLessThan(0.5);
        expect(Math.abs((dec as number) - 43.5)).toBeLessThan(0.5);
      }
      if (tool === 'create_cube_component_list') expect(rows[0]?.endsWith(',7')).toBe(true);
      const used = JSON.parse(
        fs.readFileSync(
          path.join(run.products, `${name}.${image}.${tool}_inputs_used.json`),
          'utf8',
        ),
      );
      expect(used[`${name}.${image}.fits`].sha256).toBe(sha256(fs.readFileSync(file)));
    });

    it.each([
      ['create_component_list', 'SIMFAIL-CREATECOMPONENTLIST'],
      ['create_cube_component_list', 'SIMFAIL-CREATECUBECOMPONENTLIST'],
    ])('%s fails on %s; and on a missing image, saying so', (tool, token) => {
      expect(
        spawnSync(CASA, casaArgs(run, 'S', 'vlass_se_cont_imaging'), { cwd: run.working }).status,
      ).toBe(0);
      const image = path.join(run.products, 'S.I.iter3.image.pbcor.tt0.subim.fits');
      const failed = list(tool, image, `S.${token}`);
      expect(failed.status).toBe(1);
      expect(failed.stderr).toContain(`RuntimeError: ${tool}: PyBDSF process_image failed`);
      const missing = list(tool, path.join(run.products, 'none.fits'));
      expect(missing.status).toBe(1);
      expect(missing.stderr).toContain('no image');
    });
  });
});
