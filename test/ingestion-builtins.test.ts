import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalArchive } from '@wfs/archive';
import { Database, dropDatabase, ensureDatabase } from '@wfs/persistence';
import { Roots, RUN_SUBDIRS, runDirs, RunDirs } from '@wfs/storage';
import { loadDefinitions } from '@wfs/workflows';
import { BUILTINS, BuiltinContext, BuiltinRun } from '@wfs/execution';

/** A run directory as the service makes one (synchronously, for these helpers). */
function makeRunDir(root: string): RunDirs {
  const dirs = runDirs(root);
  for (const sub of RUN_SUBDIRS) fs.mkdirSync(dirs[sub], { recursive: true });
  return dirs;
}

/**
 * The ingestion steps called directly (no HTTP, no queue) on a real source run
 * made by the tool simulators, with a real LocalArchive on a throwaway database.
 */
const REPO = path.resolve(__dirname, '..');
const SIM = path.join(REPO, 'tools', 'simulators');
const base = process.env.WFS_TEST_DATABASE_BASE ?? 'postgres://postgres@127.0.0.1:5432';
const url = `${base}/wfs_ingest_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const defs = new Map(loadDefinitions(path.join(REPO, 'workflows')).map((d) => [d.name, d]));
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

const REPORT =
  'qa_standard: SRDP Pilot <br>\nqa_analyst: A. Analyst <br>\nqa_status: Pass <br>\nqa_comments: RFI in spw 7 flagged & fine\n';

describe('ingestion builtins', () => {
  let db: Database;
  let tmp: string;
  let roots: Roots;
  let archive: LocalArchive;
  let lines: string[];

  beforeAll(async () => {
    await ensureDatabase(url);
    db = await new Database(url, 2).open();
    await db.migrate();
  });
  afterAll(async () => {
    await db.close();
    await dropDatabase(url);
  });
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-ingest-'));
    roots = new Roots(path.join(tmp, 'processing'), path.join(tmp, 'qa'), []);
    roots.ensure();
    archive = new LocalArchive(db, path.join(tmp, 'archive'));
    lines = [];
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A complete processing run, made by the simulators and delivered to the QA area. */
  function sourceRun(id: number, workflow: string, subject: string, recipe: string): BuiltinRun {
    const dirs = makeRunDir(path.join(roots.processing, `${workflow}_${id}`));
    const fetch = spawnSync(
      path.join(SIM, 'productfetcher'),
      ['--subject', subject, '--dest', dirs.rawdata],
      { encoding: 'utf8' },
    );
    expect(fetch.status).toBe(0);
    const casaArgs = [
      '--pipeline',
      recipe,
      '--subject',
      subject,
      '--rawdata',
      dirs.rawdata,
      '--inputs',
      dirs.inputs,
      '--products',
      dirs.products,
    ];
    const casa = spawnSync(path.join(SIM, 'casa'), casaArgs, {
      cwd: dirs.working,
      encoding: 'utf8',
    });
    expect(casa.status).toBe(0);
    // a DA's addition to products/ while reviewing
    fs.mkdirSync(path.join(dirs.products, 'da_additions'));
    fs.writeFileSync(
      path.join(dirs.products, 'da_additions', 'bandpass_notes.txt'),
      'ant ea05 bandpass looks odd\n',
    );
    const qaRoot = roots.qaDestination(dirs.root);
    fs.renameSync(dirs.root, qaRoot);
    return {
      id,
      workflow,
      subject,
      parameters: {},
      definition: defs.get(workflow)!,
      dirs: runDirsOf(qaRoot),
      resultsDir: null,
    };
  }

  function runDirsOf(root: string): RunDirs {
    const d = (s: string) => path.join(root, s);
    return {
      root,
      rawdata: d('rawdata'),
      working: d('working'),
      products: d('products'),
      inputs: d('inputs'),
      logs: d('logs'),
    };
  }

  function ingestionRun(
    id: number,
    workflow: string,
    subject: string,
    parameters: Record<string, unknown>,
    files: Record<string, string>,
  ): BuiltinRun {
    const dirs = makeRunDir(path.join(roots.processing, `${workflow}_${id}`));
    for (const [name, text] of Object.entries(files))
      fs.writeFileSync(path.join(dirs.inputs, name), text);
    return {
      id,
      workflow,
      subject,
      parameters,
      definition: defs.get(workflow)!,
      dirs,
      resultsDir: null,
    };
  }

  const step = (name: string, run: BuiltinRun, source: BuiltinRun) => {
    const ctx: BuiltinContext = {
      dirs: run.dirs,
      args: [],
      roots,
      signal: new AbortController().signal,
      log: (l) => lines.push(l),
      run,
      sources: [source],
      archive,
    };
    const builtin = BUILTINS[name];
    if (!builtin) throw new Error(`no builtin ${name}`);
    return builtin(ctx);
  };

  function untar(tgz: string): string {
    const dir = fs.mkdtempSync(path.join(tmp, 'untar-'));
    expect(spawnSync('tar', ['-xzf', tgz, '-C', dir]).status).toBe(0);
    return dir;
  }

  it('ingests a VLA calibration: product files and roles, QA notes in the weblog, held, Calibrated, dir returned', async () => {
    const subject = '24A-123.sb4567.eb8910.60400.5';
    const source = sourceRun(11, 'std_calibration', subject, 'hifv_calimage_cont'); // an imaging recipe: FITS in products/
    expect(fs.readdirSync(source.dirs.products).some((f) => f.endsWith('.fits'))).toBe(true);
    const run = ingestionRun(
      12,
      'calibration_ingestion',
      subject,
      { qaFlag: 'fail', analyst: 'A. Analyst', comments: 'too much flagged' },
      {
        'qa_report.txt': REPORT,
        'flagtemplate.txt': "mode='manual' antenna='ea05'\n",
      },
    );

    expect(await step('builtin:prepare_calibration_product', run, source)).toEqual({ exitCode: 0 });
    const archived = await step('builtin:archive_calibration_product', run, source);
    const name = `${subject}.cal.r11`;
    expect(archived.exitCode).toBe(0);
    expect(archived.effects?.products?.map((p) => [p.name, p.kind])).toEqual([
      [name, 'calibration'],
    ]);

    const product = await archive.product(name);
    expect(product).toMatchObject({
      name,
      kind: 'calibration',
      subject,
      qaFlag: 'fail',
      sourceRunId: 11,
      ingestionRunId: 12,
    });
    const roles = (p: string) => product!.files.filter((f) => f.path === p).map((f) => f.role);
    const paths = [...new Set(product!.files.map((f) => f.path))];
    expect(paths.filter((p) => /\.fits(\.gz)?$/.test(p))).toEqual([]);
    expect(paths.filter((p) => p.startsWith('pipeline-'))).toEqual([]);
    expect(paths).toEqual(
      expect.arrayContaining([
        'weblog.tgz',
        'PPR.xml',
        'casa_pipescript.py',
        `${subject}.caltables.tgz`,
        'da_additions/bandpass_notes.txt',
      ]),
    );
    expect(roles('weblog.tgz')).toEqual(['calibration', 'weblog']);
    expect(roles('da_additions/bandpass_notes.txt')).toEqual(['calibration']);
    expect(roles('flagtemplate.txt')).toEqual(['calibration', 'flags']);
    expect(roles('qa_report.txt')).toEqual(['calibration', 'qa_report']);
    expect(roles('flagtargetstemplate.txt')).toEqual([]); // not given
    expect(archived.effects?.products?.[0].files).toEqual(
      product!.files.map((f) => ({ path: f.path, role: f.role })),
    );

    // the archived weblog carries the report as qa_notes.html next to index.html; the source's weblog is untouched
    const web = untar(path.join(archive.root, name, 'weblog.tgz'));
    const [top] = fs.readdirSync(web);
    expect(top).toMatch(/^pipeline-\d{8}T\d{6}$/);
    expect(fs.existsSync(path.join(web, top, 'html', 'index.html'))).toBe(true);
    const notes = fs.readFileSync(path.join(web, top, 'html', 'qa_notes.html'), 'utf8');
    expect(notes).toContain('qa_analyst: A. Analyst &lt;br&gt;');
    expect(notes).toContain('RFI in spw 7 flagged &amp; fine');
    expect(notes).toContain('SRDP QA flag: fail');
    const original = untar(path.join(source.dirs.products, 'weblog.tgz'));
    expect(fs.existsSync(path.join(original, top, 'html', 'qa_notes.html'))).toBe(false);

    // held: every archived file, and the unchanged source products by their own bytes
    expect(
      await archive.holds(
        11,
        product!.files.map((f) => ({ sha256: f.sha256, size: f.size })),
      ),
    ).toBe(true);
    const pipescript = fs.readFileSync(path.join(source.dirs.products, 'casa_pipescript.py'));
    expect(await archive.holds(11, [{ sha256: sha256(pipescript), size: pipescript.length }])).toBe(
      true,
    );
    const fits = fs.readdirSync(source.dirs.products).find((f) => f.endsWith('.fits'))!;
    const fitsBytes = fs.readFileSync(path.join(source.dirs.products, fits));
    expect(await archive.holds(11, [{ sha256: sha256(fitsBytes), size: fitsBytes.length }])).toBe(
      false,
    );

    expect(await archive.subject(subject)).toMatchObject({
      calibrationStatus: 'Calibrated',
      products: [{ name }],
    });

    // back to the processing area, and a repeat (the record still names the QA path) is harmless
    const moved = await step('builtin:return_to_processing', run, source);
    const target = path.join(roots.processing, 'std_calibration_11');
    expect(moved).toEqual({
      exitCode: 0,
      effects: { sources: [{ runId: source.id, processingDir: target, diskState: 'processing' }] },
    });
    expect(fs.existsSync(source.dirs.root)).toBe(false);
    expect(fs.existsSync(path.join(target, 'products', 'weblog.tgz'))).toBe(true);
    expect(await step('builtin:return_to_processing', run, source)).toEqual(moved);
    expect(
      await step('builtin:return_to_processing', run, { ...source, dirs: runDirsOf(target) }),
    ).toEqual(moved);
  });

  it('is idempotent: prepare and archive again leave one identical product', async () => {
    const subject = 'EB-IDEMPOTENT.1';
    const source = sourceRun(21, 'std_calibration', subject, 'hifv');
    const run = ingestionRun(
      22,
      'calibration_ingestion',
      subject,
      { qaFlag: 'pass', analyst: 'B' },
      {},
    );
    await step('builtin:prepare_calibration_product', run, source);
    const first = await step('builtin:archive_calibration_product', run, source);
    await step('builtin:prepare_calibration_product', run, source);
    const second = await step('builtin:archive_calibration_product', run, source);
    expect(second.effects).toEqual(first.effects);
    expect(await archive.productsOfRun(21)).toHaveLength(1);
    const p = (await archive.product(`${subject}.cal.r21`))!;
    expect(p.qaFlag).toBe('pass');
    expect(await archive.holds(21, p.files)).toBe(true);
    // without a QA report the weblog is archived byte for byte
    const weblog = fs.readFileSync(path.join(source.dirs.products, 'weblog.tgz'));
    expect(p.files.find((f) => f.path === 'weblog.tgz')?.sha256).toBe(sha256(weblog));
    expect(p.files.find((f) => f.path === 'qa_report.txt')).toBeUndefined();
  });

  it('refuses to archive before prepare, and refuses a bad QA flag', async () => {
    const source = sourceRun(31, 'std_calibration', 'EB-ORDER.1', 'hifv');
    const run = ingestionRun(
      32,
      'calibration_ingestion',
      'EB-ORDER.1',
      { qaFlag: 'maybe', analyst: 'C' },
      {},
    );
    await expect(step('builtin:archive_calibration_product', run, source)).rejects.toThrow(
      /qaFlag/,
    );
    run.parameters.qaFlag = 'null';
    await expect(step('builtin:archive_calibration_product', run, source)).rejects.toThrow(
      /prepare step has not run/,
    );
    expect(await archive.productsOfRun(31)).toEqual([]);
    expect((await archive.subject('EB-ORDER.1')).calibrationStatus).toBe('Unknown');
  });

  it('ingests ALMA imaging as one image product: primary science images, ancillary rest, QA pass', async () => {
    const subject = 'uid___A001_X2d1f_X3a';
    const source = sourceRun(41, 'std_imaging', subject, 'hifa_image');
    const run = ingestionRun(
      42,
      'image_ingestion',
      subject,
      { qaFlag: 'fail', analyst: 'D' },
      {
        'qa_report.txt': 'imaging QA ok\n',
        'flagtargetstemplate.txt': "mode='manual' field='3'\n",
      },
    );
    expect(await step('builtin:prepare_image_product', run, source)).toEqual({ exitCode: 0 });
    const result = await step('builtin:archive_image_products', run, source);
    const name = `${subject}.img.r41`;
    expect(result.effects?.products?.map((p) => [p.name, p.kind])).toEqual([[name, 'image']]);
    const p = (await archive.product(name))!;
    expect(p.qaFlag).toBe('pass');
    const byRole = (role: string) => p.files.filter((f) => f.role === role).map((f) => f.path);
    expect(byRole('primary')).toEqual([
      `${subject}.sci.cont.I.pb.fits`,
      `${subject}.sci.cont.I.pbcor.fits`,
    ]);
    expect(byRole('ancillary')).toEqual(
      expect.arrayContaining([
        'weblog.tgz',
        'casa_pipescript.py',
        'da_additions/bandpass_notes.txt',
        'flagtargetstemplate.txt',
      ]),
    );
    expect(byRole('ancillary').some((f) => f.endsWith('.fits') || f.startsWith('pipeline-'))).toBe(
      false,
    );
    expect(byRole('weblog')).toEqual(['weblog.tgz']);
    expect(byRole('flags')).toEqual(['flagtargetstemplate.txt']);
    const web = untar(path.join(archive.root, name, 'weblog.tgz'));
    const [top] = fs.readdirSync(web);
    expect(fs.readFileSync(path.join(web, top, 'html', 'qa_notes.html'), 'utf8')).toContain(
      'imaging QA ok',
    );
    expect((await archive.subject(subject)).calibrationStatus).toBe('Unknown'); // imaging does not touch calibration status
    expect(await archive.holds(41, p.files)).toBe(true);
  });

  it('leaves a source directory outside the QA area where it is', async () => {
    const source = sourceRun(51, 'std_calibration', 'EB-ELSEWHERE.1', 'hifv');
    const elsewhere = path.join(tmp, 'results', 'mine');
    fs.mkdirSync(path.dirname(elsewhere));
    fs.renameSync(source.dirs.root, elsewhere);
    const run = ingestionRun(
      52,
      'calibration_ingestion',
      'EB-ELSEWHERE.1',
      { qaFlag: 'pass', analyst: 'E' },
      {},
    );
    expect(
      await step('builtin:return_to_processing', run, { ...source, dirs: runDirsOf(elsewhere) }),
    ).toEqual({ exitCode: 0 });
    expect(fs.existsSync(elsewhere)).toBe(true);
  });
});
