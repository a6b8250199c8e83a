/**
 * The steps of ingestion runs (workflows with `role: ingestion`, e.g.
 * calibration_ingestion and image_ingestion): they read the run being
 * ingested (ctx.source: its directory and its definition's product globs),
 * put a product into the archive port and move the source back to the
 * processing area. Every step is idempotent: a retry after a crash rebuilds
 * or re-checks what it finds and does no harm.
 *
 * The product is built in the ingestion run's `working/<kind>_product/`
 * with a manifest `working/<kind>_product.json` (path, roles, size, sha256,
 * origin of each file); the archive step ingests exactly what the manifest
 * lists and checks the archive recorded the same checksums.
 *
 * By concern: manifest.ts (prepare the product, read its manifest),
 * weblog.ts (the weblog with the QA notes), archive-product.ts (archive and
 * verify), return-to-processing.ts (the move back). This file is the table.
 */
import * as fs from 'node:fs';
import type { QaFlag } from '@wfs/archive';
import type { Builtin } from '../builtin-context';
import { archiveProduct, QA_FLAGS } from './archive-product';
import { manifestPath, prepareProduct } from './manifest';
import { returnToProcessing } from './return-to-processing';
import { sourceOf } from './source';

export const INGESTION_BUILTINS: Record<string, Builtin> = {
  /** Stage "preparing products": the calibration product (the old qaPass tar's contents) plus the weblog with QA notes. */
  'builtin:prepare_calibration_product': async (ctx) => {
    await prepareProduct(ctx, 'calibration');
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
    const product = await archiveProduct(ctx, 'calibration', qaFlag as QaFlag);
    const subject = sourceOf(ctx).subject;
    await ctx.archive.setCalibrationStatus(subject, 'Calibrated');
    ctx.log(`${subject} marked Calibrated`);
    return { exitCode: 0, effects: { products: [product] } };
  },

  /** Stage "preparing products" of an ALMA image ingestion: primary and ancillary products, weblog with QA notes. */
  'builtin:prepare_image_product': async (ctx) => {
    await prepareProduct(ctx, 'image');
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
    if (!fs.existsSync(manifestPath(ctx, 'image'))) await prepareProduct(ctx, 'image');
    const asked = ctx.run.parameters.qaFlag;
    if (asked !== undefined && asked !== 'pass')
      ctx.log(`QA flag ${String(asked)} asked: image ingestions record pass`);
    const product = await archiveProduct(ctx, 'image', 'pass');
    return { exitCode: 0, effects: { products: [product] } };
  },

  /** Stage "post ingestion": the source run's directory back to the processing area. */
  'builtin:return_to_processing': returnToProcessing,
};
