import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict, WfsError } from '@wfs/domain';

/**
 * The one door to the filesystem below the service's roots (QUALITY: every
 * path written, read or deleted stays inside its root).
 *
 * - Directories are reached only if their real path is the path itself: no
 *   symbolic link anywhere below the root on the way (`plainDir`).
 * - Directories are made exclusively (`mkdir` without `recursive` refuses an
 *   existing link), one component at a time.
 * - Files are opened with O_NOFOLLOW and what was opened is checked again
 *   through /proc/self/fd, so a link planted between a check and the open
 *   cannot take a read or a write out of the directory it was meant for.
 * - Deletes never follow links (fs.rm removes a link, not its target).
 *
 * Every refusal is a WfsError `UNSAFE_PATH` (409): the bytes are there but
 * the service will not follow where they lead.
 *
 * Walking, hashing and copying files below the roots, by the same rules, is
 * in file-digest.ts.
 */

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW } = fs.constants;

export const unsafePath = (target: string, why: string): WfsError =>
  conflict('UNSAFE_PATH', `Refusing ${target}: ${why}.`, { path: target });

export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** realpath, or null when the path does not exist (or cannot be resolved). */
export function realPath(target: string): string | null {
  try {
    return fs.realpathSync.native(target);
  } catch {
    return null;
  }
}

/** realpath of the longest existing prefix, plus the rest: where a path would really land. */
export function realDestination(target: string): string {
  const abs = path.resolve(target);
  const rest: string[] = [];
  let probe = abs;
  for (;;) {
    const real = realPath(probe);
    if (real !== null) return path.join(real, ...rest.reverse());
    const parent = path.dirname(probe);
    if (parent === probe) return abs;
    rest.push(path.basename(probe));
    probe = parent;
  }
}

/**
 * The real path of `target` if it lies inside one of `roots` after every
 * symlink is followed (so a link cannot lead a write or delete out), else null.
 */
export function containedIn(roots: readonly string[], target: string): string | null {
  const real = realDestination(target);
  for (const root of roots) {
    if (isInside(realDestination(root), real)) return real;
  }
  return null;
}

/**
 * `dir` if it is an existing directory reached without any link (its real
 * path is itself) inside `within`; else UNSAFE_PATH, or null when it does not
 * exist and `missing` is 'null'.
 */
export function plainDir(dir: string, within: string): string;
export function plainDir(dir: string, within: string, missing: 'null'): string | null;
export function plainDir(dir: string, within: string, missing?: 'null'): string | null {
  const real = realPath(dir);
  if (real === null) {
    if (missing === 'null') return null;
    throw unsafePath(dir, 'it does not exist');
  }
  if (real !== path.resolve(dir)) throw unsafePath(dir, `it leads through a link to ${real}`);
  if (!isInside(within, real)) throw unsafePath(dir, `it is not inside ${within}`);
  if (!fs.statSync(real).isDirectory()) throw unsafePath(dir, 'it is not a directory');
  return real;
}

/**
 * Makes `dir` exclusively: EEXIST unless it was made now (an existing link
 * there is never followed). The parent must already be checked.
 */
export function makeDir(dir: string): void {
  fs.mkdirSync(dir);
}

/**
 * Makes `dir` (a real directory inside `within`) unless it is there; an
 * existing entry must be a plain directory, never a link.
 */
export function ensureDir(dir: string, within: string): void {
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    plainDir(dir, within);
  }
}

/** The path a file descriptor really refers to (Linux). */
function openedPath(fd: number): string {
  return fs.readlinkSync(`/proc/self/fd/${fd}`);
}

/** Opens `file` with `flags` | O_NOFOLLOW and checks it really lies directly in `dir`. */
async function openIn(
  dir: string,
  name: string,
  flags: number,
  mode?: number,
): Promise<fs.promises.FileHandle> {
  const file = path.join(dir, name);
  if (path.dirname(file) !== path.resolve(dir)) throw unsafePath(file, 'it is not a plain name');
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, flags | O_NOFOLLOW, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw unsafePath(file, 'it is a link');
    throw e;
  }
  const opened = openedPath(handle.fd);
  const realDir = realPath(dir);
  if (path.dirname(opened) !== realDir || realDir !== path.resolve(dir)) {
    await handle.close();
    // A file made exclusively by this call is ours to take back.
    if (flags & O_EXCL) await fs.promises.rm(opened, { force: true }).catch(() => undefined);
    throw unsafePath(file, `it leads to ${opened}`);
  }
  return handle;
}

/** A regular file directly in `dir`, opened for reading without following links; null if absent. */
export async function openRead(dir: string, name: string): Promise<fs.promises.FileHandle | null> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await openIn(dir, name, O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw unsafePath(path.join(dir, name), 'it is not a regular file');
  }
  return handle;
}

/** The bytes of a regular file directly in `dir` (no links followed); null if absent. */
export async function readIn(dir: string, name: string): Promise<Buffer | null> {
  const handle = await openRead(dir, name);
  if (!handle) return null;
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** A file directly in `dir` opened to append (made if absent), never through a link. */
export function openAppend(dir: string, name: string): Promise<fs.promises.FileHandle> {
  return openIn(dir, name, O_WRONLY | O_CREAT | O_APPEND, 0o644);
}

/** Appends text to a file directly in `dir`, making `dir` (inside `within`) if needed. */
export async function appendIn(
  dir: string,
  within: string,
  name: string,
  text: string,
): Promise<void> {
  ensureDir(dir, within);
  const handle = await openAppend(dir, name);
  try {
    await handle.appendFile(text);
  } finally {
    await handle.close();
  }
}

/** A new file of a random name directly in `dir`, made exclusively: where bytes are staged. */
export async function createTemp(
  dir: string,
  prefix: string,
): Promise<{ path: string; handle: fs.promises.FileHandle }> {
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  const handle = await openIn(dir, name, O_WRONLY | O_CREAT | O_EXCL, 0o644);
  return { path: path.join(dir, name), handle };
}

/**
 * Puts the staged file `temp` under `name` in the same directory. The file it
 * replaces is kept aside until `keep()` (the change is committed) or put back
 * by `undo()`, so what is on disk can follow what the database says.
 */
export async function install(
  temp: string,
  name: string,
): Promise<{ keep: () => Promise<void>; undo: () => Promise<void> }> {
  const dir = path.dirname(temp);
  const target = path.join(dir, name);
  const aside = path.join(dir, `.replaced-${randomBytes(6).toString('hex')}`);
  // A hard link to the old entry (a link itself is never followed by link(2)).
  const hadOld = await fs.promises.link(target, aside).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw e;
    },
  );
  await fs.promises.rename(temp, target);
  return {
    keep: async () => {
      if (hadOld) await fs.promises.rm(aside, { force: true });
    },
    undo: async () => {
      if (hadOld) await fs.promises.rename(aside, target);
      else await fs.promises.rm(target, { force: true });
    },
  };
}

/** Removes a file (or a link: never its target) directly in `dir`; no error when absent. */
export async function removeFile(file: string): Promise<void> {
  await fs.promises.rm(file, { force: true });
}

/** The entry at `target` without following it: 'file', 'dir', 'link', 'other' or null. */
export function entryKind(target: string): 'file' | 'dir' | 'link' | 'other' | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(target);
  } catch {
    return null;
  }
  if (st.isSymbolicLink()) return 'link';
  if (st.isDirectory()) return 'dir';
  return st.isFile() ? 'file' : 'other';
}

/** Whether a regular file (not a link) is at `target`. */
export const isPlainFile = (target: string): boolean => entryKind(target) === 'file';

/**
 * Moves a plain directory to a new name in another plain directory (both
 * inside `roots`). Refuses when the destination exists: rename(2) would
 * silently replace an empty directory there.
 */
export async function moveDir(from: string, to: string, roots: readonly string[]): Promise<void> {
  const within = roots.find((r) => isInside(r, path.resolve(from)));
  const into = roots.find((r) => isInside(r, path.dirname(path.resolve(to))));
  if (!within || !into) throw unsafePath(from, `it or ${to} is not inside the roots`);
  plainDir(from, within);
  plainDir(path.dirname(to), into);
  if (entryKind(to) !== null) throw unsafePath(to, 'it exists already');
  await fs.promises.rename(from, to);
}

/** Deletes a directory tree that must be inside one of the roots; never follows symlinks. */
export async function removeInside(roots: readonly string[], target: string): Promise<string> {
  const real = containedIn(roots, target);
  if (!real || roots.some((r) => realDestination(r) === real)) {
    throw new WfsError(
      'invalid',
      'PATH_OUTSIDE_ROOTS',
      `Refusing to delete ${target}: it is not inside the service's roots.`,
      { path: target },
    );
  }
  // fs.rm does not follow symlinks inside the tree: links are removed, not their targets.
  await fs.promises.rm(real, { recursive: true, force: true });
  return real;
}
