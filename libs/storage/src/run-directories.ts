import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalid, WfsError } from '@wfs/domain';
import { entryKind, isInside, makeDir, plainDir } from './confined-fs';

/** Made with the run. `logs/` is made with the first log written (one directory fewer per run). */
export const RUN_SUBDIRS = ['rawdata', 'working', 'products', 'inputs'] as const;

export interface RunDirs {
  root: string;
  rawdata: string;
  working: string;
  products: string;
  inputs: string;
  logs: string;
}

export function runDirs(root: string): RunDirs {
  return {
    root,
    rawdata: path.join(root, 'rawdata'),
    working: path.join(root, 'working'),
    products: path.join(root, 'products'),
    inputs: path.join(root, 'inputs'),
    logs: path.join(root, 'logs'),
  };
}

/** The file name of a job instance's stdout or stderr log in `logs/` (appended across attempts). */
export const jobLogName = (name: string, index: number, stream: 'stdout' | 'stderr'): string =>
  `${name}.${index}.${stream}.log`;

/** Where a job instance's stdout or stderr goes. */
export const jobLogPath = (
  dirs: RunDirs,
  name: string,
  index: number,
  stream: 'stdout' | 'stderr',
): string => path.join(dirs.logs, jobLogName(name, index, stream));

/** Longest file name component and path Linux takes (NAME_MAX, PATH_MAX). */
const NAME_MAX_BYTES = 255;
const PATH_MAX_BYTES = 4095;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const badResultsDir = (code: string, message: string, problem: string) =>
  invalid(code, message, { fields: { resultsDir: problem } });

/**
 * The processing and QA areas and where callers may ask for results. The
 * roots are made if missing and kept as their real paths, so every path the
 * service derives from them can be checked for links by comparing it with
 * its own realpath.
 */
/** The marker file of an image cache entry (builtin:cache_images writes it, the sweep reads it). */
export const CACHE_MARKER = '.wfs-cache.json';

export class Roots {
  readonly processing: string;
  readonly qa: string;
  readonly results: readonly string[];
  /** The results roots as configured (a caller may name them so, links and all). */
  private readonly configuredResults: readonly string[];

  /** The image cache (vlass_image_caching): its own root, swept like the processing area. */
  readonly cache: string;

  constructor(
    processing: string,
    qa: string,
    results: readonly string[],
    cache: string = path.join(path.dirname(path.resolve(processing)), 'cache'),
  ) {
    this.configuredResults = results.map((r) => path.resolve(r));
    const real = (dir: string) => {
      fs.mkdirSync(dir, { recursive: true });
      return fs.realpathSync.native(dir);
    };
    this.processing = real(processing);
    this.qa = real(qa);
    this.results = results.map(real);
    this.cache = real(cache);
  }

  /** Kept for callers that made the roots themselves: they exist from construction on. */
  ensure(): void {
    for (const dir of [this.processing, this.qa, ...this.results])
      fs.mkdirSync(dir, { recursive: true });
  }

  /** The processing area and the results roots: where run directories are made. */
  get runAreas(): readonly string[] {
    return [this.processing, ...this.results];
  }

  /** The areas whose run directories the service may move or delete. */
  get managed(): readonly string[] {
    return [this.processing, this.qa];
  }

  /**
   * A caller's resultsDir, as its real path; 400 unless it is an absolute
   * path inside an allowed results root (not the root itself, not in the QA
   * area the service owns), reached without any symbolic link below the
   * root, and either absent or an empty directory (a cleanup deletes it
   * whole: it must hold nothing of anyone else's).
   */
  resolveResultsDir(requested: string): string {
    if (CONTROL.test(requested))
      throw badResultsDir(
        'INVALID_RESULTS_DIR',
        'resultsDir may not contain control characters.',
        'may not contain control characters',
      );
    if (!path.isAbsolute(requested))
      throw badResultsDir(
        'INVALID_RESULTS_DIR',
        'resultsDir must be an absolute path.',
        'must be an absolute path',
      );
    const resolved = path.resolve(requested);
    const long = resolved.split('/').find((c) => Buffer.byteLength(c) > NAME_MAX_BYTES);
    if (long !== undefined || Buffer.byteLength(resolved) > PATH_MAX_BYTES)
      throw badResultsDir(
        'INVALID_RESULTS_DIR',
        `resultsDir has a name longer than ${NAME_MAX_BYTES} bytes or is longer than ${PATH_MAX_BYTES}.`,
        'is too long',
      );
    const outside = () =>
      badResultsDir(
        'RESULTS_DIR_OUTSIDE_ROOTS',
        `resultsDir ${requested} is not inside an allowed results root.`,
        `must be inside one of: ${this.results.join(', ')}`,
      );
    // The root named as configured or by its real path; below it, nothing is followed.
    const i = [...this.results, ...this.configuredResults].findIndex(
      (r) => isInside(r, resolved) && r !== resolved,
    );
    if (i < 0) throw outside();
    const root = this.results[i % this.results.length] as string;
    const named = [...this.results, ...this.configuredResults][i] as string;
    const real = path.join(root, path.relative(named, resolved));
    return this.checkResultsDir(requested, root, real);
  }

  private checkResultsDir(requested: string, root: string, resolved: string): string {
    if (isInside(this.qa, resolved))
      throw badResultsDir(
        'RESULTS_DIR_OUTSIDE_ROOTS',
        `resultsDir ${requested} is in the QA area, which the service manages itself.`,
        'may not be in the QA area',
      );
    let probe = root;
    for (const part of path.relative(root, resolved).split(path.sep)) {
      probe = path.join(probe, part);
      const kind = entryKind(probe);
      if (kind === null) break;
      if (kind === 'link')
        throw badResultsDir(
          'RESULTS_DIR_UNSAFE',
          `resultsDir ${requested} leads through the symbolic link ${probe}.`,
          'may not lead through a symbolic link',
        );
      if (kind !== 'dir')
        throw badResultsDir(
          'RESULTS_DIR_UNSAFE',
          `resultsDir ${requested}: ${probe} exists and is not a directory.`,
          `${probe} is not a directory`,
        );
    }
    if (entryKind(resolved) === 'dir' && fs.readdirSync(resolved).length > 0)
      throw badResultsDir(
        'RESULTS_DIR_NOT_EMPTY',
        `resultsDir ${requested} exists and is not empty: give a new or an empty directory (a cleanup deletes it whole).`,
        'must be new or empty',
      );
    return resolved;
  }

  /** A new run's directory: the caller's resultsDir, or one named for the run in the processing area. */
  runRoot(runId: number, workflow: string, resultsDir: string | null): string {
    return resultsDir ?? `${this.runRootPrefix(workflow)}${runId}`;
  }

  /** The generated directory name of a workflow's runs, but for the run id that ends it. */
  runRootPrefix(workflow: string): string {
    return path.join(this.processing, `${workflow}_`);
  }

  /**
   * Makes a run directory and its subdirectories, each exclusively (an entry
   * already there, a link included, is refused, never followed): returns the
   * topmost directory made, for a rollback to remove. One after another on
   * purpose: mkdirs side by side in the thread pool contend on the file
   * system's inode allocation and cost more CPU than they save (measured).
   */
  create(root: string): { dirs: RunDirs; made: string | null } {
    const dirs = runDirs(root);
    const area = this.runAreas.find((r) => isInside(r, root) && r !== root);
    if (!area) throw new WfsError('invalid', 'PATH_OUTSIDE_ROOTS', `${root} is not in a run area.`);
    // A caller's resultsDir may be several levels below its root, and may exist (empty).
    let made: string | null = null;
    let probe = area;
    for (const part of path.relative(area, root).split(path.sep)) {
      probe = path.join(probe, part);
      try {
        makeDir(probe);
        made ??= probe;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        plainDir(probe, area);
      }
    }
    if (made === null && fs.readdirSync(root).length > 0)
      throw new WfsError('conflict', 'RESULTS_DIR_NOT_EMPTY', `${root} is not empty.`, {
        path: root,
      });
    try {
      for (const sub of RUN_SUBDIRS) makeDir(dirs[sub]);
    } catch (e) {
      if (made === null)
        for (const sub of RUN_SUBDIRS) fs.rmSync(dirs[sub], { force: true, recursive: true });
      throw e;
    }
    return { dirs, made };
  }

  /**
   * The run directory and each of its subdirectories that exist are plain
   * directories (no link) inside a root: checked before a tool runs there.
   */
  checkRunDirs(dirs: RunDirs): void {
    const area = [...this.runAreas, this.qa].find((r) => isInside(r, dirs.root));
    if (!area) throw new WfsError('conflict', 'UNSAFE_PATH', `${dirs.root} is not in a run area.`);
    plainDir(dirs.root, area);
    for (const sub of [...RUN_SUBDIRS, 'logs'] as const) plainDir(dirs[sub], dirs.root, 'null');
  }

  /** Where a run directory goes when it is delivered to the QA area. */
  qaDestination(root: string): string {
    return path.join(this.qa, path.basename(root));
  }
}
