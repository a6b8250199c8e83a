import { PRODUCT_ROLES } from '@wfs/domain';
import type { ProductToIngest } from './archive';

/**
 * A product name is one directory under the archive root: one path segment, not hidden (never
 * `.`, `..`, `.staging`), no control characters, at most 255 UTF-8 bytes; names are made from a
 * subject's file-safe form (`uid___A001_X1284_X2c1.img.r12`).
 */
const UNSAFE_IN_NAME = /[/\\\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const ROLES: ReadonlySet<string> = new Set(PRODUCT_ROLES);
/** The SRDP QA flags a product may carry. */
export const QA_FLAGS: ReadonlySet<string> = new Set(['pass', 'fail', 'null']);

export const isSafeProductName = (name: string): boolean =>
  /^[^.]/.test(name) && !UNSAFE_IN_NAME.test(name) && Buffer.byteLength(name, 'utf8') <= 255;

/** A file's place inside a product: relative, POSIX, no empty, "." or ".." segments. */
export function isSafeProductPath(p: string): boolean {
  if (
    p.length === 0 ||
    p.length > 1024 ||
    p.includes('\0') ||
    p.includes('\\') ||
    p.startsWith('/')
  )
    return false;
  return p.split('/').every((s) => s.length > 0 && s !== '.' && s !== '..');
}

/** Refuses a product whose name, paths, roles, flag or run ids the archive will not store. */
export function validateProduct(p: ProductToIngest): void {
  if (!isSafeProductName(p.name)) throw new Error(`unsafe product name ${JSON.stringify(p.name)}`);
  if (!p.kind || !p.subject) throw new Error(`product ${p.name}: kind and subject are required`);
  if (p.qaFlag !== null && !QA_FLAGS.has(p.qaFlag))
    throw new Error(`product ${p.name}: unknown QA flag ${JSON.stringify(p.qaFlag)}`);
  if (!Number.isSafeInteger(p.sourceRunId) || !Number.isSafeInteger(p.ingestionRunId)) {
    throw new Error(`product ${p.name}: run ids must be integers`);
  }
  if (p.files.length === 0) throw new Error(`product ${p.name} has no files`);
  for (const f of p.files) {
    if (!isSafeProductPath(f.path))
      throw new Error(`product ${p.name}: unsafe file path ${JSON.stringify(f.path)}`);
    if (!ROLES.has(f.role))
      throw new Error(`product ${p.name}: unknown role ${JSON.stringify(f.role)}`);
  }
}
