import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Database, dropDatabase, ensureDatabase } from '@wfs/persistence';
import { LocalArchive } from './local-archive';

/** Integration: the real Postgres (a throwaway database) and a temporary archive root. */
const base = process.env.WFS_TEST_DATABASE_BASE ?? 'postgres://postgres@127.0.0.1:5432';
const url = `${base}/wfs_archive_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

describe('LocalArchive', () => {
  let db: Database;
  let tmp: string;
  let archive: LocalArchive;
  let src: string;

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
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-archive-'));
    src = path.join(tmp, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'weblog.tgz'), 'weblog bytes');
    fs.writeFileSync(path.join(src, 'PPR.xml'), '<ppr/>');
    fs.writeFileSync(path.join(src, 'sub', 'notes.txt'), 'a DA addition');
    archive = new LocalArchive(db, path.join(tmp, 'archive'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const ingestCal = (runId: number, name = `EB${runId}.cal.r${runId}`, subject = `EB${runId}`) =>
    archive.ingest({
      name,
      kind: 'calibration',
      subject,
      qaFlag: null,
      sourceRunId: runId,
      ingestionRunId: runId + 1000,
      files: [
        { source: path.join(src, 'weblog.tgz'), path: 'weblog.tgz', role: 'calibration' },
        { source: path.join(src, 'weblog.tgz'), path: 'weblog.tgz', role: 'weblog' },
        { source: path.join(src, 'PPR.xml'), path: 'PPR.xml', role: 'calibration' },
        { source: path.join(src, 'sub', 'notes.txt'), path: 'sub/notes.txt', role: 'calibration' },
      ],
    });

  it('ingests a product: copies, checksums, one row per role, readable back', async () => {
    const p = await ingestCal(1);
    expect(p).toMatchObject({
      name: 'EB1.cal.r1',
      kind: 'calibration',
      subject: 'EB1',
      qaFlag: null,
      sourceRunId: 1,
      ingestionRunId: 1001,
    });
    expect(new Date(p.ingestedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(p.files).toEqual([
      { path: 'PPR.xml', size: 6, sha256: sha256('<ppr/>'), role: 'calibration' },
      { path: 'sub/notes.txt', size: 13, sha256: sha256('a DA addition'), role: 'calibration' },
      { path: 'weblog.tgz', size: 12, sha256: sha256('weblog bytes'), role: 'calibration' },
      { path: 'weblog.tgz', size: 12, sha256: sha256('weblog bytes'), role: 'weblog' },
    ]);
    expect(
      fs.readFileSync(path.join(tmp, 'archive', 'EB1.cal.r1', 'sub', 'notes.txt'), 'utf8'),
    ).toBe('a DA addition');
    expect(await archive.product('EB1.cal.r1')).toEqual(p);
    expect(await archive.product('nope')).toBeNull();
    expect(await archive.productsOfRun(1)).toEqual([p]);
  });

  it('replaces a product whole when ingested again (idempotent per name)', async () => {
    await ingestCal(2);
    fs.writeFileSync(path.join(src, 'PPR.xml'), '<ppr v="2"/>');
    const again = await ingestCal(2);
    expect(again.files.find((f) => f.path === 'PPR.xml')?.sha256).toBe(sha256('<ppr v="2"/>'));
    expect(again.files).toHaveLength(4);
    expect(fs.readdirSync(path.join(tmp, 'archive', '.staging'))).toEqual([]);
    expect(await archive.productsOfRun(2)).toHaveLength(1);
  });

  it('keeps subjects: calibration status (Unknown until set) and products, newest first', async () => {
    expect(await archive.subject('EB3')).toEqual({
      subject: 'EB3',
      calibrationStatus: 'Unknown',
      products: [],
    });
    await ingestCal(3);
    await ingestCal(4, 'EB3.cal.r4', 'EB3');
    await archive.setCalibrationStatus('EB3', 'Calibrated');
    await archive.setQaFlag(3, 'pass');
    const s = await archive.subject('EB3');
    expect(s.calibrationStatus).toBe('Calibrated');
    expect(s.products.map((p) => [p.name, p.qaFlag])).toEqual([
      ['EB3.cal.r4', null],
      ['EB3.cal.r3', 'pass'],
    ]);
    await archive.setCalibrationStatus('EB3', 'Do Not Calibrate');
    expect((await archive.subject('EB3')).calibrationStatus).toBe('Do Not Calibrate');
  });

  it('holds() is true only for files of that run whose stored bytes still match', async () => {
    await ingestCal(5);
    const files = [
      { sha256: sha256('weblog bytes'), size: 12 },
      { sha256: sha256('a DA addition'), size: 13 },
    ];
    expect(await archive.holds(5, files)).toBe(true);
    expect(await archive.holds(5, [])).toBe(true);
    expect(await archive.holds(999, files)).toBe(false); // unknown run
    expect(await archive.holds(999, [])).toBe(false);
    expect(await archive.holds(5, [{ sha256: sha256('not archived'), size: 12 }])).toBe(false);
    expect(await archive.holds(5, [{ sha256: sha256('weblog bytes'), size: 11 }])).toBe(false);

    // the stored copy is altered (same size): re-hashing catches it
    fs.writeFileSync(path.join(tmp, 'archive', 'EB5.cal.r5', 'sub', 'notes.txt'), 'a DA additioN');
    expect(await archive.holds(5, files)).toBe(false);
    expect(await archive.holds(5, [files[0]])).toBe(true);
    // and a deleted one
    fs.rmSync(path.join(tmp, 'archive', 'EB5.cal.r5', 'weblog.tgz'));
    expect(await archive.holds(5, [files[0]])).toBe(false);
  });

  it('keeps a canonical MOUS UID as the subject, under a file-safe product name', async () => {
    const product = await archive.ingest({
      name: 'uid___A001_X1284_X2c1.img.r8',
      kind: 'image',
      subject: 'uid://A001/X1284/X2c1',
      qaFlag: 'pass',
      sourceRunId: 8,
      ingestionRunId: 9,
      files: [{ source: path.join(src, 'PPR.xml'), path: 'PPR.xml', role: 'ancillary' }],
    });
    expect(product.subject).toBe('uid://A001/X1284/X2c1');
    const s = await archive.subject('uid://A001/X1284/X2c1');
    expect(s.products.map((p) => p.name)).toEqual(['uid___A001_X1284_X2c1.img.r8']);
    expect(fs.readdirSync(path.join(tmp, 'archive'))).toContain('uid___A001_X1284_X2c1.img.r8');
  });

  it('refuses unsafe product names and file paths, and symlinked sources', async () => {
    const file = {
      source: path.join(src, 'PPR.xml'),
      path: 'PPR.xml',
      role: 'calibration' as const,
    };
    const base = {
      kind: 'calibration',
      subject: 'EB6',
      qaFlag: null,
      sourceRunId: 6,
      ingestionRunId: 7,
    };
    for (const name of [
      '../x',
      'a/b',
      'a\\b',
      '.hidden',
      '..',
      '.staging',
      '',
      'a\nb',
      'x'.repeat(256),
    ]) {
      await expect(archive.ingest({ ...base, name, files: [file] })).rejects.toThrow(
        /unsafe product name/,
      );
    }
    for (const p of ['../x', '/abs', 'a//b', 'a/./b', '']) {
      await expect(
        archive.ingest({ ...base, name: 'ok', files: [{ ...file, path: p }] }),
      ).rejects.toThrow(/unsafe file path/);
    }
    fs.symlinkSync('/etc/hostname', path.join(src, 'link'));
    await expect(
      archive.ingest({ ...base, name: 'ok', files: [{ ...file, source: path.join(src, 'link') }] }),
    ).rejects.toThrow();
    expect(await archive.product('ok')).toBeNull();
    expect(fs.existsSync(path.join(tmp, 'archive', 'ok'))).toBe(false);
  });
});
