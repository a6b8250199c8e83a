import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalid } from '@wfs/domain';
import { containedIn } from './safe-paths';

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

/** Where a job instance's stdout or stderr goes (appended across attempts). */
export const jobLogPath = (
  dirs: RunDirs,
  name: string,
  index: number,
  stream: 'stdout' | 'stderr',
): string => path.join(dirs.logs, `${name}.${index}.${stream}.log`);

/** The processing and QA areas and where callers may ask for results. */
export class Roots {
  constructor(
    readonly processing: string,
    readonly qa: string,
    readonly results: readonly string[],
  ) {}

  ensure(): void {
    for (const dir of [this.processing, this.qa, ...this.results])
      fs.mkdirSync(dir, { recursive: true });
  }

  /** A caller's resultsDir, resolved; 400 unless it stays inside an allowed root. */
  resolveResultsDir(requested: string): string {
    if (!path.isAbsolute(requested) || requested.includes('\0')) {
      throw invalid('INVALID_RESULTS_DIR', 'resultsDir must be an absolute path.', {
        fields: { resultsDir: 'must be an absolute path' },
      });
    }
    const real = containedIn(this.results, requested);
    if (!real || this.results.some((r) => path.resolve(r) === path.resolve(requested))) {
      throw invalid(
        'RESULTS_DIR_OUTSIDE_ROOTS',
        `resultsDir ${requested} is not inside an allowed results root.`,
        {
          fields: { resultsDir: `must be inside one of: ${this.results.join(', ')}` },
        },
      );
    }
    return real;
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
   * Makes a run directory and its subdirectories. One after another on
   * purpose: mkdirs side by side in the thread pool contend on the file
   * system's inode allocation and cost more CPU than they save (measured).
   */
  create(root: string): RunDirs {
    const dirs = runDirs(root);
    fs.mkdirSync(root, { recursive: true });
    for (const sub of RUN_SUBDIRS) fs.mkdirSync(dirs[sub], { recursive: true });
    return dirs;
  }

  /** Where a run directory goes when it is delivered to the QA area. */
  qaDestination(root: string): string {
    return path.join(this.qa, path.basename(root));
  }
}
