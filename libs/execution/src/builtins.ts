import { entryKind, moveDir } from '@wfs/storage';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Builtin } from './builtin-context';
import { cacheImages } from './image-cache';
import { INGESTION_BUILTINS } from './ingestion';

export type { Builtin, BuiltinContext, BuiltinResult, BuiltinRun } from './builtin-context';

/** Steps the service does itself, in the worker, without a process. */
export const BUILTINS: Record<string, Builtin> = {
  ...INGESTION_BUILTINS,
  'builtin:noop': async () => ({ exitCode: 0 }),
  'builtin:cache_images': cacheImages,

  /** A gate is decided by a person (POST .../gates/{job}/approve|reject), never placed on a worker. */
  'builtin:gate': async ({ log }) => {
    log('a gate is decided by a person, not run: approve or reject it (wfs gate)');
    return { exitCode: 1 };
  },

  /** Stands in for a task that computes for N seconds (RADPS skeleton, load tests). */
  'builtin:work': async ({ args, signal }) => {
    const seconds = Number(args[0] ?? 0);
    if (!Number.isFinite(seconds) || seconds < 0) return { exitCode: 2 };
    if (seconds > 0) await sleep(seconds * 1000, undefined, { signal }).catch(() => undefined);
    return { exitCode: signal.aborted ? 143 : 0 };
  },

  /**
   * Moves the run directory from the processing area to the QA area for
   * review. Idempotent: a repeat after a crash finds it already there.
   */
  'builtin:deliver_to_qa': async ({ dirs, roots, log, run }) => {
    // A caller's resultsDir is reviewed where the caller asked for it, wherever it is.
    if (run.resultsDir !== null) {
      log(`results directory ${dirs.root} is the caller's: reviewed where it is, not moved`);
      return { exitCode: 0 };
    }
    const target = roots.qaDestination(dirs.root);
    if (entryKind(dirs.root) !== null) {
      await moveDir(dirs.root, target, roots.managed);
    } else if (entryKind(target) !== 'dir') {
      throw new Error(`run directory ${dirs.root} is gone`);
    }
    log(`moved ${dirs.root} to ${target}`);
    return { exitCode: 0, effects: { processingDir: target, diskState: 'qa' } };
  },
};

export const BUILTIN_NAMES: ReadonlySet<string> = new Set(Object.keys(BUILTINS));
