import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { WfsError } from '@wfs/domain';
import { appendIn, createTemp, install, moveDir, openRead, plainDir, readIn } from './confined-fs';
import { linkOrCopyIn } from './file-digest';
import { Roots } from './run-directories';
import { stageUpload } from './uploads';

/** The code of the WfsError a promise or call is refused with. */
async function refusal(work: () => unknown): Promise<string> {
  try {
    await work();
  } catch (e) {
    return e instanceof WfsError ? e.code : `not a WfsError: ${(e as Error).message}`;
  }
  return 'accepted';
}

describe('confined-fs: nothing is reached through a link', () => {
  let tmp: string;
  let root: string;
  let outside: string;
  beforeEach(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-confined-')));
    root = path.join(tmp, 'root');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(path.join(root, 'run', 'inputs'), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret'), 'secret');
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('a plain directory passes; one reached through a link, or outside, does not', async () => {
    expect(plainDir(path.join(root, 'run'), root)).toBe(path.join(root, 'run'));
    fs.symlinkSync(outside, path.join(root, 'link'));
    expect(await refusal(() => plainDir(path.join(root, 'link'), root))).toBe('UNSAFE_PATH');
    expect(await refusal(() => plainDir(outside, root))).toBe('UNSAFE_PATH');
    expect(plainDir(path.join(root, 'absent'), root, 'null')).toBeNull();
  });

  test('a file that is a link, or in a directory that is one, is not opened', async () => {
    const inputs = path.join(root, 'run', 'inputs');
    fs.symlinkSync(path.join(outside, 'secret'), path.join(inputs, 'PPR.xml'));
    expect(await refusal(() => openRead(inputs, 'PPR.xml'))).toBe('UNSAFE_PATH');
    fs.rmSync(inputs, { recursive: true });
    fs.symlinkSync(outside, inputs);
    expect(await refusal(() => readIn(inputs, 'secret'))).toBe('UNSAFE_PATH');
    expect(await refusal(() => openRead(path.join(root, 'run'), '../run/inputs'))).toBe(
      'UNSAFE_PATH',
    );
    expect(await readIn(path.join(root, 'run'), 'absent')).toBeNull();
  });

  test('a temporary file made through a link is taken back and refused', async () => {
    const logs = path.join(root, 'run', 'logs');
    fs.symlinkSync(outside, logs);
    expect(await refusal(() => createTemp(logs, '.t-'))).toBe('UNSAFE_PATH');
    expect(await refusal(() => appendIn(logs, path.join(root, 'run'), 'x.log', 'x'))).toBe(
      'UNSAFE_PATH',
    );
    expect(fs.readdirSync(outside)).toEqual(['secret']);
  });

  test('an installed file is kept, or undone back to the bytes it replaced', async () => {
    const inputs = path.join(root, 'run', 'inputs');
    fs.writeFileSync(path.join(inputs, 'PPR.xml'), 'old');
    const staged = await stageUpload(Readable.from([Buffer.from('new')]), inputs, 100);
    const undo = await staged.install('PPR.xml');
    expect(fs.readFileSync(path.join(inputs, 'PPR.xml'), 'utf8')).toBe('new');
    await undo.undo();
    expect(fs.readFileSync(path.join(inputs, 'PPR.xml'), 'utf8')).toBe('old');
    const again = await stageUpload(Readable.from([Buffer.from('newer')]), inputs, 100);
    await (await again.install('PPR.xml')).keep();
    expect(fs.readdirSync(inputs)).toEqual(['PPR.xml']);
    expect(fs.readFileSync(path.join(inputs, 'PPR.xml'), 'utf8')).toBe('newer');
    const fresh = await createTemp(inputs, '.t-');
    await fresh.handle.close();
    await (await install(fresh.path, 'flux.csv')).undo();
    expect(fs.readdirSync(inputs)).toEqual(['PPR.xml']);
  });

  test('an upload over the limit leaves nothing behind', async () => {
    const inputs = path.join(root, 'run', 'inputs');
    expect(await refusal(() => stageUpload(Readable.from([Buffer.alloc(200)]), inputs, 100))).toBe(
      'FILE_TOO_LARGE',
    );
    expect(fs.readdirSync(inputs)).toEqual([]);
  });

  test('a move refuses a destination that exists (rename would replace an empty directory)', async () => {
    fs.mkdirSync(path.join(root, 'qa'));
    fs.mkdirSync(path.join(root, 'qa', 'run'));
    expect(
      await refusal(() => moveDir(path.join(root, 'run'), path.join(root, 'qa', 'run'), [root])),
    ).toBe('UNSAFE_PATH');
    fs.rmdirSync(path.join(root, 'qa', 'run'));
    await moveDir(path.join(root, 'run'), path.join(root, 'qa', 'run'), [root]);
    expect(fs.existsSync(path.join(root, 'qa', 'run', 'inputs'))).toBe(true);
  });
});

describe('Roots: run directories and resultsDir', () => {
  let tmp: string;
  let roots: Roots;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-roots-'));
    fs.symlinkSync(tmp, `${tmp}-link`);
    // The results root named through a link: kept by its real path, still accepted as named.
    roots = new Roots(path.join(tmp, 'p'), path.join(tmp, 'qa'), [path.join(`${tmp}-link`, 'r')]);
  });
  afterEach(() => {
    fs.rmSync(`${tmp}-link`, { force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('roots are real paths, and a resultsDir named through the configured link resolves to one', () => {
    expect(roots.results).toEqual([path.join(fs.realpathSync(tmp), 'r')]);
    expect(roots.resolveResultsDir(path.join(`${tmp}-link`, 'r', 'a', 'b'))).toBe(
      path.join(fs.realpathSync(tmp), 'r', 'a', 'b'),
    );
  });

  test('a run directory is made exclusively; what it made is named for a rollback', () => {
    const dir = path.join(roots.results[0] as string, 'a', 'b');
    const { dirs, made } = roots.create(dir);
    expect(made).toBe(path.join(roots.results[0] as string, 'a'));
    expect(fs.readdirSync(dirs.root).sort()).toEqual(['inputs', 'products', 'rawdata', 'working']);
    expect(() => roots.create(dir)).toThrow(/not empty/);
  });

  test('a run whose subdirectory became a link fails the check before a tool runs', () => {
    const { dirs } = roots.create(`${roots.runRootPrefix('w')}1`);
    fs.rmdirSync(dirs.rawdata);
    fs.symlinkSync(tmp, dirs.rawdata);
    expect(() => roots.checkRunDirs(dirs)).toThrow(/link/);
  });
});

describe('linkOrCopyIn: what a re-run reuses', () => {
  let tmp: string;
  let root: string;
  let outside: string;
  beforeEach(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-link-')));
    root = path.join(tmp, 'root');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret'), 'secret');
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('linkOrCopyIn hard-links a tree into another run, refuses links and paths outside', async () => {
    const src = path.join(root, 'run', 'rawdata', 'eb');
    fs.mkdirSync(path.join(src, 'ASDMBinary'), { recursive: true });
    fs.writeFileSync(path.join(src, 'ASDM.xml'), 'asdm');
    fs.writeFileSync(path.join(src, 'ASDMBinary', 'bdf'), 'bdf');
    const dest = path.join(root, 'run2', 'rawdata', 'eb');
    expect(await linkOrCopyIn(src, dest, [root])).toBe(2);
    expect(fs.statSync(path.join(dest, 'ASDMBinary', 'bdf')).ino).toBe(
      fs.statSync(path.join(src, 'ASDMBinary', 'bdf')).ino,
    );
    // The destination is new: never merged into, never replaced.
    expect(await refusal(() => linkOrCopyIn(src, dest, [root]))).not.toBe('accepted');
    fs.symlinkSync(path.join(outside, 'secret'), path.join(src, 'planted'));
    expect(await refusal(() => linkOrCopyIn(src, path.join(root, 'run3', 'eb'), [root]))).toBe(
      'UNSAFE_PATH',
    );
    expect(await refusal(() => linkOrCopyIn(outside, path.join(root, 'run4'), [root]))).toBe(
      'UNSAFE_PATH',
    );
    expect(await refusal(() => linkOrCopyIn(src, path.join(outside, 'x'), [root]))).toBe(
      'UNSAFE_PATH',
    );
    fs.symlinkSync(outside, path.join(root, 'via'));
    expect(
      await refusal(() => linkOrCopyIn(path.join(root, 'via'), path.join(root, 'run5'), [root])),
    ).toBe('UNSAFE_PATH');
  });
});
