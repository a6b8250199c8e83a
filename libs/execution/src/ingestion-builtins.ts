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
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classifyProducts, fileSafeSubject, ProductRole } from '@wfs/domain';
import { copyFileIn, entryKind, isInside, moveDir, readIn } from '@wfs/storage';
import type { EventProduct } from '@wfs/domain';
import type { QaFlag } from '@wfs/archive';
import type { Builtin, BuiltinContext, BuiltinRun } from './builtin-context';
import { filesUnder, qaNotesSection, sha256Of, weblogWithQaNotes } from './product-files';

type ProductKind = 'calibration' | 'image';

/** Files a DA may hand an ingestion (into the ingestion run's inputs/), and the role each has at least. */
const DA_FILES: ReadonlyArray<[string, ProductRole]> = [
  ['qa_report.txt', 'qa_report'],
  ['flagtemplate.txt', 'flags'],
  ['flagtargetstemplate.txt', 'flags'],
];

export interface ManifestEntry {
  /** Path inside the product (and inside the staging directory). */
  path: string;
  roles: ProductRole[];
  size: number;
  sha256: string;
  /**
   * `products`: copied from the source's products/; `inputs`: a file the DA gave the ingestion;
   * `run_inputs`: a flag file the source run was given (its inputs/); `rebuilt`: the weblog with
   * the QA notes added.
   */
  origin: 'products' | 'inputs' | 'run_inputs' | 'rebuilt';
  /** The file it came from (source products/ or inputs/, or ingestion inputs/). */
  from: string;
}

export interface ProductManifest {
  kind: ProductKind;
  sourceRunId: number;
  subject: string;
  files: ManifestEntry[];
}

const QA_FLAGS: ReadonlySet<string> = new Set(['pass', 'fail', 'null']);

/** `<file-safe subject>.cal.r<id>`: a product name is a directory of the archive (CONTRACT 5.2). */
export const productName = (kind: ProductKind, subject: string, sourceRunId: number): string =>
  `${fileSafeSubject(subject)}.${kind === 'calibration' ? 'cal' : 'img'}.r${sourceRunId}`;

const stagingDir = (ctx: BuiltinContext, kind: ProductKind) =>
  path.join(ctx.dirs.working, `${kind}_product`);
const manifestPath = (ctx: BuiltinContext, kind: ProductKind) =>
  path.join(ctx.dirs.working, `${kind}_product.json`);

function sourceOf(ctx: BuiltinContext): BuiltinRun & { subject: string } {
  const source = ctx.source;
  if (!source) throw new Error('this step belongs to an ingestion run: it has no source run');
  const subject = source.subject ?? ctx.run.subject;
  if (!subject)
    throw new Error(`run ${source.id} has no subject: nothing to name its product after`);
  return { ...source, subject };
}

/**
 * Builds the product of the source run in working/<kind>_product/: its
 * products/ files classified by the source definition's globs, the DA's files
 * from the ingestion run's inputs/ (they win over a products/ file of the same
 * name), and the weblog re-packed with qa_notes.html when a qa_report.txt is given.
 * Rebuilt from scratch on every attempt.
 */
async function prepareProduct(ctx: BuiltinContext, kind: ProductKind): Promise<ProductManifest> {
  const source = sourceOf(ctx);
  const patterns = source.definition.products ?? {};
  if (Object.keys(patterns).length === 0)
    throw new Error(`workflow ${source.workflow} declares no products to ingest`);
  if (!fs.existsSync(source.dirs.products))
    throw new Error(`run ${source.id} has no products directory at ${source.dirs.products}`);

  const staging = stagingDir(ctx, kind);
  await fs.promises.rm(staging, { recursive: true, force: true });
  await fs.promises.rm(manifestPath(ctx, kind), { force: true });
  await fs.promises.mkdir(staging, { recursive: true });

  const entries = new Map<string, Omit<ManifestEntry, 'size' | 'sha256'>>();
  for (const f of classifyProducts(await filesUnder(source.dirs.products, ctx.log), patterns)) {
    entries.set(f.path, {
      path: f.path,
      roles: f.roles,
      origin: 'products',
      from: path.join(source.dirs.products, ...f.path.split('/')),
    });
  }
  const isFile = async (p: string) => fs.existsSync(p) && (await fs.promises.lstat(p)).isFile();
  for (const [name, role] of DA_FILES) {
    const byPattern = classifyProducts([name], patterns)[0]?.roles ?? [];
    const roles = [...new Set<ProductRole>([...byPattern, role])];
    const given = path.join(ctx.dirs.inputs, name);
    // The flag files the run used (a DA's, given to the run or its re-run) are archived with
    // its product, unless the DA gives others at ingest or the run's products/ holds them.
    const used = path.join(source.dirs.inputs, name);
    if (await isFile(given)) {
      if (entries.has(name)) ctx.log(`${name} given to the ingestion replaces products/${name}`);
      entries.set(name, { path: name, roles, origin: 'inputs', from: given });
    } else if (role === 'flags' && !entries.has(name) && (await isFile(used))) {
      ctx.log(`${name} of run ${source.id} (its inputs/) archived with its product`);
      entries.set(name, { path: name, roles, origin: 'run_inputs', from: used });
    }
  }
  if (entries.size === 0)
    throw new Error(
      `no file of ${source.dirs.products} is a product of workflow ${source.workflow}`,
    );

  const report = path.join(ctx.dirs.inputs, 'qa_report.txt');
  const reportText = await readIn(path.dirname(report), path.basename(report));
  const section = reportText ? qaNotesSection(reportText.toString('utf8'), ctx) : null;
  const weblogs = [...entries.values()].filter(
    (e) => e.roles.includes('weblog') && /\.(tgz|tar\.gz)$/.test(e.path),
  );
  if (section && weblogs.length === 0)
    ctx.log(
      'a QA report was given but the run has no weblog tarball: archived as qa_report.txt only',
    );

  const files: ManifestEntry[] = [];
  for (const e of entries.values()) {
    if (ctx.signal.aborted) throw new Error('cancelled');
    const dest = path.join(staging, ...e.path.split('/'));
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    let origin = e.origin;
    if (section && weblogs.includes(e)) {
      const notes = await weblogWithQaNotes(ctx, e.from, dest, section);
      ctx.log(`added the QA report to ${e.path} as ${notes}`);
      origin = 'rebuilt';
    } else {
      await copyFileIn(e.from, dest);
    }
    files.push({ ...e, origin, ...(await sha256Of(dest)) });
  }

  const manifest: ProductManifest = {
    kind,
    sourceRunId: source.id,
    subject: source.subject,
    files,
  };
  const tmp = `${manifestPath(ctx, kind)}.tmp`;
  await fs.promises.writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  await fs.promises.rename(tmp, manifestPath(ctx, kind));
  ctx.log(`${kind} product of run ${source.id}: ${files.length} files in ${staging}`);
  return manifest;
}

async function readManifest(ctx: BuiltinContext, kind: ProductKind): Promise<ProductManifest> {
  const file = manifestPath(ctx, kind);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: the prepare step has not run`);
  const manifest = JSON.parse(await fs.promises.readFile(file, 'utf8')) as ProductManifest;
  if (manifest.sourceRunId !== ctx.source?.id)
    throw new Error(`${file} describes run ${manifest.sourceRunId}, not ${ctx.source?.id}`);
  return manifest;
}

/** Ingests the prepared product and checks the archive recorded exactly the manifest's bytes. */
async function archiveProduct(
  ctx: BuiltinContext,
  kind: ProductKind,
  qaFlag: QaFlag,
): Promise<EventProduct> {
  const source = sourceOf(ctx);
  const manifest = await readManifest(ctx, kind);
  const staging = stagingDir(ctx, kind);
  const name = productName(kind, source.subject, source.id);
  const product = await ctx.archive.ingest({
    name,
    kind,
    subject: source.subject,
    qaFlag,
    sourceRunId: source.id,
    ingestionRunId: ctx.run.id,
    files: manifest.files.flatMap((f) =>
      f.roles.map((role) => ({
        source: path.join(staging, ...f.path.split('/')),
        path: f.path,
        role,
      })),
    ),
  });
  for (const f of manifest.files) {
    const stored = product.files.filter((a) => a.path === f.path);
    if (
      stored.length !== f.roles.length ||
      stored.some((a) => a.sha256 !== f.sha256 || a.size !== f.size)
    ) {
      throw new Error(
        `the archive's copy of ${name}/${f.path} does not match the prepared file (changed since prepare?)`,
      );
    }
  }
  await ctx.archive.setQaFlag(source.id, qaFlag);
  ctx.log(`archived ${name}: ${product.files.length} file roles, QA flag ${qaFlag}`);
  return { name, kind, files: product.files.map((f) => ({ path: f.path, role: f.role })) };
}

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

  /**
   * Stage "post ingestion": moves the source run's directory from the QA area
   * back to the processing area, where the sweep expires it. Idempotent: a
   * repeat finds it moved. A directory elsewhere (a caller's results dir, or
   * already in processing) stays where it is.
   */
  'builtin:return_to_processing': async (ctx) => {
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
  },
};
