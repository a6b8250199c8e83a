import * as path from 'node:path';
import { entryKind, isInside, moveDir } from '@wfs/storage';
import type { Builtin } from '../builtin-context';
import { sourceOf } from './source';

/**
 * Stage "post ingestion": moves the source run's directory from the QA area
 * back to the processing area, where the sweep expires it. Idempotent: a
 * repeat finds it moved. A directory elsewhere (a caller's results dir, or
 * already in processing) stays where it is.
 */
export const returnToProcessing: Builtin = async (ctx) => {
  const source = sourceOf(ctx);
  const root = path.resolve(source.dirs.root);
  const qa = ctx.roots.qa;
  const target = path.join(ctx.roots.processing, path.basename(root));
  const inQa = isInside(qa, root) && root !== qa;
  if (!inQa) {
    if (isInside(ctx.roots.processing, root)) {
      ctx.log(`${root} is already in the processing area`);
      return {
        exitCode: 0,
        effects: { source: { processingDir: root, diskState: 'processing' } },
      };
    }
    ctx.log(`${root} is not in the QA area: left where it is`);
    return { exitCode: 0 };
  }
  if (entryKind(root) !== null) {
    if (path.dirname(root) !== qa)
      throw new Error(`refusing to move ${root}: it is not a run directory of the QA area`);
    await moveDir(root, target, ctx.roots.managed);
    ctx.log(`moved ${root} to ${target}`);
  } else if (entryKind(target) === 'dir') {
    ctx.log(`${root} was already moved to ${target}`);
  } else {
    throw new Error(`run directory ${root} is gone`);
  }
  return { exitCode: 0, effects: { source: { processingDir: target, diskState: 'processing' } } };
};
