/**
 * The product of the run being ingested, built in the ingestion run's
 * `working/<kind>_product/`, and its manifest `working/<kind>_product.json`
 * (path, roles, size, sha256, origin of each file): what the archive step
 * ingests and checks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classifyProducts, ProductRole } from '@wfs/domain';
import { copyFileIn, readIn } from '@wfs/storage';
import type { BuiltinContext } from '../builtin-context';
import { filesUnder, sha256Of } from './product-files';
import { IngestedRun, workFor } from './source';
import { qaNotesSection, weblogWithQaNotes } from './weblog';

export type ProductKind = 'calibration' | 'image';

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

export const stagingDir = (ctx: BuiltinContext, kind: ProductKind, source: IngestedRun) =>
  path.join(workFor(ctx, source), `${kind}_product`);
export const manifestPath = (ctx: BuiltinContext, kind: ProductKind, source: IngestedRun) =>
  path.join(workFor(ctx, source), `${kind}_product.json`);

/**
 * Builds the product of the source run in working/<kind>_product/: its
 * products/ files classified by the source definition's globs, the DA's files
 * from the ingestion run's inputs/ (they win over a products/ file of the same
 * name), and the weblog re-packed with qa_notes.html when a qa_report.txt is given.
 * Rebuilt from scratch on every attempt.
 */
export async function prepareProduct(
  ctx: BuiltinContext,
  kind: ProductKind,
  source: IngestedRun,
): Promise<ProductManifest> {
  const patterns = source.definition.products ?? {};
  if (Object.keys(patterns).length === 0)
    throw new Error(`workflow ${source.workflow} declares no products to ingest`);
  if (!fs.existsSync(source.dirs.products))
    throw new Error(`run ${source.id} has no products directory at ${source.dirs.products}`);

  const staging = stagingDir(ctx, kind, source);
  await fs.promises.rm(staging, { recursive: true, force: true });
  await fs.promises.rm(manifestPath(ctx, kind, source), { force: true });
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
  const section = reportText ? qaNotesSection(reportText.toString('utf8'), ctx, source) : null;
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
  const tmp = `${manifestPath(ctx, kind, source)}.tmp`;
  await fs.promises.writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  await fs.promises.rename(tmp, manifestPath(ctx, kind, source));
  ctx.log(`${kind} product of run ${source.id}: ${files.length} files in ${staging}`);
  return manifest;
}

/** The manifest the prepare step wrote for one of this ingestion's source runs. */
export async function readManifest(
  ctx: BuiltinContext,
  kind: ProductKind,
  source: IngestedRun,
): Promise<ProductManifest> {
  const file = manifestPath(ctx, kind, source);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: the prepare step has not run`);
  const manifest = JSON.parse(await fs.promises.readFile(file, 'utf8')) as ProductManifest;
  if (manifest.sourceRunId !== source.id)
    throw new Error(`${file} describes run ${manifest.sourceRunId}, not ${source.id}`);
  return manifest;
}
