import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ensureDir,
  entryKind,
  isInside,
  makeDir,
  openRead,
  plainDir,
  realPath,
  unsafePath,
} from './confined-fs';

/**
 * The file walk and the digest of the service, for every place that lists,
 * hashes or copies files below the roots (products, archive, cleanup's
 * check, the CASA log scan): through the storage door, never following a link.
 */

/**
 * Regular files under `dir` as sorted relative POSIX paths; links and special
 * files are never followed and are reported through `skipped`.
 */
export async function listFiles(
  dir: string,
  skipped: (rel: string) => void = () => undefined,
): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await fs.promises.readdir(path.join(dir, rel), { withFileTypes: true });
    for (const entry of entries) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) out.push(child);
      else skipped(child);
    }
  };
  if (entryKind(dir) === 'dir') await walk('');
  return out.sort();
}

/** sha256 and size of a regular file, read without following a link; null if absent. */
export async function digestFile(file: string): Promise<{ sha256: string; size: number } | null> {
  const handle = await openRead(path.dirname(file), path.basename(file));
  if (!handle) return null;
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest('hex'), size };
}

/** Names of the regular files directly in `dir` (links and directories left out); [] if absent. */
export async function filesIn(dir: string): Promise<string[]> {
  const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
}

/**
 * Copies a regular file (opened without following a link) to a new file
 * `to`; a clone where the filesystem can (the bytes copied are those of the
 * descriptor checked, reopened through /proc/self/fd).
 */
export async function copyFileIn(from: string, to: string): Promise<void> {
  const handle = await openRead(path.dirname(from), path.basename(from));
  if (!handle) throw unsafePath(from, 'it is gone');
  try {
    await fs.promises.copyFile(
      `/proc/self/fd/${handle.fd}`,
      to,
      fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE,
    );
  } finally {
    await handle.close();
  }
}

/**
 * Copies a regular file (opened without following a link) to a new file
 * `to` (made exclusively), returning the sha256 and size of the bytes as they
 * were copied: what was stored is what was hashed.
 */
export async function copyDigesting(
  from: string,
  to: string,
): Promise<{ sha256: string; size: number }> {
  const handle = await openRead(path.dirname(from), path.basename(from));
  if (!handle) throw unsafePath(from, 'it is gone');
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      handle.createReadStream({ autoClose: false }),
      tap,
      fs.createWriteStream(to, { flags: 'wx' }),
    );
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Puts `from` (a regular file or a directory tree) at the new path `to` as
 * hard links, file by file, or as copies where the two are on different
 * filesystems: what a re-run reuses of its source run, the source left as it
 * was. Both must lie inside `roots` and be reached without a symbolic link;
 * a link (or a special file) anywhere in the tree is refused (UNSAFE_PATH),
 * never followed. `to` must not exist; the directories above it are made
 * (plain directories, inside the root `to` lies in). Returns the files put.
 */
export async function linkOrCopyIn(
  from: string,
  to: string,
  roots: readonly string[],
): Promise<number> {
  const src = path.resolve(from);
  const dest = path.resolve(to);
  const srcRoot = roots.find((r) => isInside(r, src));
  const destRoot = roots.find((r) => isInside(r, dest));
  if (!srcRoot || realPath(src) !== src) throw unsafePath(from, 'it is not inside the roots');
  if (!destRoot || dest === destRoot) throw unsafePath(to, 'it is not inside the roots');
  // The directories above the destination: each a plain one, made when missing.
  const rel = path.relative(destRoot, path.dirname(dest));
  let dir = destRoot;
  for (const part of rel === '' ? [] : rel.split(path.sep)) {
    dir = path.join(dir, part);
    ensureDir(dir, destRoot);
  }
  plainDir(path.dirname(dest), destRoot);
  let count = 0;
  const put = async (s: string, d: string): Promise<void> => {
    const kind = entryKind(s);
    if (kind === 'dir') {
      // Read by its real path only: a directory swapped for a link since the check is refused.
      if (realPath(s) !== s) throw unsafePath(s, 'it leads through a link');
      makeDir(d);
      for (const entry of await fs.promises.readdir(s))
        await put(path.join(s, entry), path.join(d, entry));
      return;
    }
    if (kind !== 'file') throw unsafePath(s, kind === null ? 'it is gone' : `it is a ${kind}`);
    try {
      // link(2) never follows a link at `s`: one planted since the check is linked as a link, refused below.
      await fs.promises.link(s, d);
      if (entryKind(d) !== 'file') {
        await fs.promises.rm(d, { force: true });
        throw unsafePath(s, 'it became a link');
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      await copyFileIn(s, d);
    }
    count += 1;
  };
  await put(src, dest);
  return count;
}
