/**
 * Product classification: which files of a run's products/ belong to which
 * archive role, from a workflow definition's `products` globs. Pure: paths
 * in, roles out; the caller lists the files.
 *
 * Globs match relative POSIX paths:
 * - `*` any characters except `/` (so it stays within one directory level),
 * - `**` as a whole segment: any number (zero included) of directory levels,
 * - `?` exactly one character except `/`,
 * - everything else literally (no character classes or braces).
 * In a pattern list, a leading `!` negates: the list is read in order and the
 * last pattern that matches decides, so `['**', '!**\/*.fits']` is "every file
 * except FITS".
 */
export const PRODUCT_ROLES = [
  'primary',
  'ancillary',
  'calibration',
  'weblog',
  'flags',
  'qa_report',
] as const;
export type ProductRole = (typeof PRODUCT_ROLES)[number];

export interface ClassifiedFile {
  path: string;
  roles: ProductRole[];
}

const cache = new Map<string, RegExp>();

function escape(ch: string): string {
  return /[\\^$.|+(){}[\]]/.test(ch) ? `\\${ch}` : ch;
}

/** The pattern as an anchored regular expression. */
export function globToRegExp(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const segments = pattern.split('/');
  let source = '';
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '**') {
      // zero or more whole segments; as the last segment, anything below
      source += last ? '.*' : '(?:[^/]+/)*';
      return;
    }
    for (let c = 0; c < segment.length; c++) {
      const ch = segment[c];
      if (ch === '*') {
        while (segment[c + 1] === '*') c++; // "a**b" inside a segment is just "*"
        source += '[^/]*';
      } else if (ch === '?') source += '[^/]';
      else source += escape(ch);
    }
    if (!last) source += '/';
  });
  const re = new RegExp(`^${source}$`);
  if (cache.size > 1000) cache.clear();
  cache.set(pattern, re);
  return re;
}

/** Whether a relative POSIX path matches one glob (a leading `!` is not special here). */
export function matchesGlob(path: string, pattern: string): boolean {
  return globToRegExp(pattern).test(path);
}

/** Whether a path is selected by a pattern list with `!negations` (last matching pattern wins). */
export function matchesPatterns(path: string, patterns: readonly string[]): boolean {
  let selected = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (selected && matchesGlob(path, p.slice(1))) selected = false;
    } else if (!selected && matchesGlob(path, p)) selected = true;
  }
  return selected;
}

export function isProductRole(role: string): role is ProductRole {
  return (PRODUCT_ROLES as readonly string[]).includes(role);
}

/**
 * Roles of each file, in the order of `patterns`' keys; files with no role are
 * left out. A file may have several roles (weblog.tgz is calibration and weblog).
 * Unknown role names are ignored (the definition schema already rejects them).
 */
export function classifyProducts(
  relativePaths: readonly string[],
  patterns: Readonly<Record<string, readonly string[]>>,
): ClassifiedFile[] {
  const roles = Object.entries(patterns).filter(([role]) => isProductRole(role)) as Array<
    [ProductRole, readonly string[]]
  >;
  const out: ClassifiedFile[] = [];
  for (const path of [...relativePaths].sort()) {
    const mine = roles.filter(([, globs]) => matchesPatterns(path, globs)).map(([role]) => role);
    if (mine.length > 0) out.push({ path, roles: mine });
  }
  return out;
}
