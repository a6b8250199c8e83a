import * as path from 'node:path';
import type { SourceChange } from '@wfs/domain';
import { entryKind, isInside, moveDir } from '@wfs/storage';
import type { Builtin, BuiltinContext } from '../builtin-context';
import { IngestedRun, sourcesOf } from './source';

/**
 * Stage "post ingestion": moves each source run's directory from the QA area
 * back to the processing area, where the sweep expires it. Idempotent: a
 * repeat finds it moved. A directory elsewhere (a caller's results dir, or
 * already in processing) stays where it is.
 */
export const returnToProcessing: Builtin = async (ctx) => {
  const sources: SourceChange[] = [];
  for (const source of sourcesOf(ctx)) {
    const change = await returnOne(ctx, source);
    if (change) sources.push(change);
  }
  return { exitCode: 0, ...(sources.length > 0 ? { effects: { sources } } : {}) };
};

async function returnOne(ctx: BuiltinContext, source: IngestedRun): Promise<SourceChange | null> {
  const root = path.resolve(source.dirs.root);
  const qa = ctx.roots.qa;
  const target = path.join(ctx.roots.processing, path.basename(root));
  const inQa = isInside(qa, root) && root !== qa;
  if (!inQa) {
    if (isInside(ctx.roots.processing, root)) {
      ctx.log(`${root} is already in the processing area`);
      return { runId: source.id, processingDir: root, diskState: 'processing' };
    }
    ctx.log(`${root} is not in the QA area: left where it is`);
    return null;
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
  return { runId: source.id, processingDir: target, diskState: 'processing' };
}
