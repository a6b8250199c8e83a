import * as path from 'node:path';
import type { BuiltinContext, BuiltinRun } from '../builtin-context';

/** A run an ingestion step works on, with the subject its product is named after. */
export type IngestedRun = BuiltinRun & { subject: string };

/**
 * The runs an ingestion step works on (ctx.sources: one, or up to 1,000 for a
 * bulk ingestion), in the order the ingestion was asked for.
 */
export function sourcesOf(ctx: BuiltinContext): IngestedRun[] {
  if (ctx.sources.length === 0)
    throw new Error('this step belongs to an ingestion run: it has no source run');
  return ctx.sources.map((source) => {
    const subject = source.subject ?? ctx.run.subject;
    if (!subject)
      throw new Error(`run ${source.id} has no subject: nothing to name its product after`);
    return { ...source, subject };
  });
}

/**
 * Where an ingestion step keeps what it prepares for one source: working/
 * itself for the ingestion of one run (as it always was), working/r<id>/ for
 * each source of a bulk ingestion.
 */
export const workFor = (ctx: BuiltinContext, source: IngestedRun): string =>
  ctx.sources.length > 1 ? path.join(ctx.dirs.working, `r${source.id}`) : ctx.dirs.working;
