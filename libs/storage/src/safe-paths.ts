import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalid } from '@wfs/domain';

/** realpath of the longest existing prefix, plus the rest: where a path would really land. */
export function realDestination(target: string): string {
  const abs = path.resolve(target);
  const rest: string[] = [];
  let probe = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync(probe), ...rest.reverse());
    } catch {
      const parent = path.dirname(probe);
      if (parent === probe) return abs;
      rest.push(path.basename(probe));
      probe = parent;
    }
  }
}

export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The real path of `target` if it lies inside one of `roots` after every
 * symlink is followed (so a link cannot lead a write or delete out), else null.
 */
export function containedIn(roots: readonly string[], target: string): string | null {
  const real = realDestination(target);
  for (const root of roots) {
    const realRoot = realDestination(root);
    if (isInside(realRoot, real)) return real;
  }
  return null;
}

/** Deletes a directory tree that must be inside one of the roots; never follows symlinks. */
export async function removeInside(roots: readonly string[], target: string): Promise<string> {
  const real = containedIn(roots, target);
  if (!real || roots.some((r) => realDestination(r) === real)) {
    throw invalid(
      'PATH_OUTSIDE_ROOTS',
      `Refusing to delete ${target}: it is not inside the service's roots.`,
      { path: target },
    );
  }
  // fs.rm does not follow symlinks inside the tree: links are removed, not their targets.
  await fs.promises.rm(real, { recursive: true, force: true });
  return real;
}
