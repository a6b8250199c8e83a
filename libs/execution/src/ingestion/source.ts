import type { BuiltinContext, BuiltinRun } from '../builtin-context';

/** The run an ingestion step works on (ctx.source), with the subject its product is named after. */
export function sourceOf(ctx: BuiltinContext): BuiltinRun & { subject: string } {
  const source = ctx.source;
  if (!source) throw new Error('this step belongs to an ingestion run: it has no source run');
  const subject = source.subject ?? ctx.run.subject;
  if (!subject)
    throw new Error(`run ${source.id} has no subject: nothing to name its product after`);
  return { ...source, subject };
}
