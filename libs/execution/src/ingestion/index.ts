/**
 * The steps of ingestion runs (workflows with `role: ingestion`, e.g.
 * calibration_ingestion and image_ingestion): they read the runs being
 * ingested (ctx.sources: one, or up to 1,000 for a bulk ingestion, each with
 * its directory and its definition's product globs), put one product per
 * source into the archive port and move the sources back to the processing
 * area. Every step is idempotent: a retry after a crash rebuilds or
 * re-checks what it finds and does no harm (an archived product is replaced
 * by the same bytes).
 *
 * Each product is built in the ingestion run's `working/<kind>_product/`
 * (`working/r<source id>/<kind>_product/` for each source of a bulk
 * ingestion) with a manifest beside it, `<kind>_product.json` (path, roles,
 * size, sha256, origin of each file); the archive step ingests exactly what
 * the manifest lists and checks the archive recorded the same checksums.
 *
 * By concern: manifest.ts (prepare the product, read its manifest),
 * weblog.ts (the weblog with the QA notes), archive-product.ts (archive and
 * verify), return-to-processing.ts (the move back). This file is the table.
 */
import * as fs from 'node:fs';
import type { QaFlag } from '@wfs/archive';
import type { Builtin } from '../builtin-context';
import type { EventProduct } from '@wfs/domain';
import type { BuiltinContext } from '../builtin-context';
import { archiveProduct, QA_FLAGS } from './archive-product';
import { manifestPath, prepareProduct, ProductKind } from './manifest';
import { returnToProcessing } from './return-to-processing';
import { IngestedRun, sourcesOf } from './source';

/** Prepares each source's product, in the order given. */
async function prepareAll(ctx: BuiltinContext, kind: ProductKind): Promise<void> {
  for (const source of sourcesOf(ctx)) {
    if (ctx.signal.aborted) throw new Error('cancelled');
    await prepareProduct(ctx, kind, source);
  }
}

/**
 * Archives each source's product, in order; `prepare`: preparing first what
 * the prepare step has not (else that is an error).
 */
async function archiveAll(
  ctx: BuiltinContext,
  kind: ProductKind,
  qaFlag: QaFlag,
  opts: { prepare: boolean; after?: (source: IngestedRun) => Promise<void> },
): Promise<EventProduct[]> {
  const products: EventProduct[] = [];
  for (const source of sourcesOf(ctx)) {
    if (ctx.signal.aborted) throw new Error('cancelled');
    if (opts.prepare && !fs.existsSync(manifestPath(ctx, kind, source)))
      await prepareProduct(ctx, kind, source);
    products.push(await archiveProduct(ctx, kind, qaFlag, source));
    await opts.after?.(source);
  }
  return products;
}

export const INGESTION_BUILTINS: Record<string, Builtin> = {
  /** Stage "preparing products": the calibration product (the old qaPass tar's contents) plus the weblog with QA notes. */
  'builtin:prepare_calibration_product': async (ctx) => {
    await prepareAll(ctx, 'calibration');
    return { exitCode: 0 };
  },

  /**
   * Stage "archiving": ingests `<subject>.cal.r<source run id>` with the DA's
   * QA flag, registers the flag, and marks the execution block Calibrated.
   * Calibrated is set whatever the SRDP QA flag: an ingestion is the old
   * qaPass ("upon successful completion, the EB is marked 'Calibrated'"), and
   * the DAs want caltables ingested even when the data fail SRDP QA (too much
   * flagged), the flag recording that on the product. Do Not Calibrate is the
   * reject operation's (the old qaFail).
   */
  'builtin:archive_calibration_product': async (ctx) => {
    const qaFlag = String(ctx.run.parameters.qaFlag ?? 'null');
    if (!QA_FLAGS.has(qaFlag))
      throw new Error(`qaFlag must be pass, fail or null, not ${JSON.stringify(qaFlag)}`);
    const products = await archiveAll(ctx, 'calibration', qaFlag as QaFlag, {
      prepare: false,
      after: async (source) => {
        await ctx.archive.setCalibrationStatus(source.subject, 'Calibrated');
        ctx.log(`${source.subject} marked Calibrated`);
      },
    });
    return { exitCode: 0, effects: { products } };
  },

  /** Stage "preparing products" of an ALMA image ingestion: primary and ancillary products, weblog with QA notes. */
  'builtin:prepare_image_product': async (ctx) => {
    await prepareAll(ctx, 'image');
    return { exitCode: 0 };
  },

  /**
   * Stage "archiving" of an ALMA image ingestion: one product
   * `<subject>.img.r<source run id>` of kind `image` whose files are primary
   * (science images) or ancillary, plus weblog/flags/qa_report roles; QA is
   * recorded as pass (the ALMA workflow's rule), whatever the parameters say.
   * If the prepare step has not run, it prepares first.
   */
  'builtin:archive_image_products': async (ctx) => {
    const asked = ctx.run.parameters.qaFlag;
    if (asked !== undefined && asked !== 'pass')
      ctx.log(`QA flag ${String(asked)} asked: image ingestions record pass`);
    const products = await archiveAll(ctx, 'image', 'pass', { prepare: true });
    return { exitCode: 0, effects: { products } };
  },

  /** Stage "post ingestion": the source run's directory back to the processing area. */
  'builtin:return_to_processing': returnToProcessing,
};
