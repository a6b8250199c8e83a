import * as path from 'node:path';
import { fileSafeSubject } from '@wfs/domain';
import type { EventProduct } from '@wfs/domain';
import type { QaFlag } from '@wfs/archive';
import type { BuiltinContext } from '../builtin-context';
import { ProductKind, readManifest, stagingDir } from './manifest';
import { IngestedRun } from './source';

export const QA_FLAGS: ReadonlySet<string> = new Set(['pass', 'fail', 'null']);

/** `<file-safe subject>.cal.r<id>`: a product name is a directory of the archive (CONTRACT 5.2). */
export const productName = (kind: ProductKind, subject: string, sourceRunId: number): string =>
  `${fileSafeSubject(subject)}.${kind === 'calibration' ? 'cal' : 'img'}.r${sourceRunId}`;

/** Ingests the prepared product and checks the archive recorded exactly the manifest's bytes. */
export async function archiveProduct(
  ctx: BuiltinContext,
  kind: ProductKind,
  qaFlag: QaFlag,
  source: IngestedRun,
): Promise<EventProduct> {
  const manifest = await readManifest(ctx, kind, source);
  const staging = stagingDir(ctx, kind, source);
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
  return {
    name,
    kind,
    sourceRunId: source.id,
    files: product.files.map((f) => ({ path: f.path, role: f.role })),
  };
}
