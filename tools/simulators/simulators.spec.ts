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
    for (const tool of [FETCHER, CASA]) {
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
});
