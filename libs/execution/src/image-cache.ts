import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  CACHE_MARKER,
  copyFileIn,
  entryKind,
  isInside,
  realPath,
  removeInside,
} from '@wfs/storage';
import type { Builtin } from './builtin-context';
import { sha256Of } from './ingestion/product-files';

/** What each cache entry's marker (CACHE_MARKER) records: what is cached, from where, since when. */
export interface CacheMarker {
  cacheName: string;
  cachedAt: string;
  cachedBy: { runId: number; workflow: string };
  from: string;
  images: Array<{ name: string; size: number; sha256: string }>;
}

/** A cache name: relative segments of letters, digits, `._+-` (VLASS2.1/T10t12/J101700+433000). */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;
/** An image file name the manager names: a plain file name. */
const FILE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/;

/**
 * `builtin:cache_images` (vlass_image_caching): copies the images the manager
 * names (`parameters.images`, file names) from the directory it names
 * (`parameters.imagesDir`: a run's products/, inside the processing area, the
 * QA area or a results root) into `<WFS_CACHE_ROOT>/<parameters.cacheName>/`,
 * nothing guessed from directory names. The entry is built beside its place
 * and renamed into it, so a reader finds it whole (a repeat replaces it with
 * the same bytes). The entry's marker records what it
 * holds and when; the sweep deletes entries older than
 * WFS_CACHE_RETENTION_DAYS. The job's result says where and what.
 */
export const cacheImages: Builtin = async ({ run, roots, log, signal }) => {
  // What the manager asked for cannot be done: exit 2, which the definition does not retry.
  const refuse = (message: string) => {
    log(`error: ${message}`);
    return { exitCode: 2 };
  };
  const p = run.parameters;
  const cacheName = String(p.cacheName ?? '');
  const segments = cacheName.split('/');
  if (!segments.every((s) => SEGMENT.test(s) && s !== '.' && s !== '..'))
    throw new Error(
      `cacheName ${JSON.stringify(cacheName)} is not a relative name of safe segments`,
    );
  const images = Array.isArray(p.images) ? p.images.map(String) : [];
  if (images.length === 0) return refuse('images names no file to cache');
  const bad = images.find((f) => !FILE.test(f));
  if (bad) return refuse(`images: ${JSON.stringify(bad)} is not a plain file name`);
  const asked = String(p.imagesDir ?? '');
  const from = path.isAbsolute(asked) ? realPath(asked) : null;
  const areas = [...roots.runAreas, roots.qa];
  if (!from || !areas.some((a) => isInside(a, from) && from !== a))
    return refuse(
      `imagesDir ${asked} is not a directory inside the processing area, the QA area or a results root`,
    );

  const missing = images.find((name) => entryKind(path.join(from, name)) !== 'file');
  if (missing) return refuse(`${missing} is not a file in ${from}: nothing cached`);
  const target = path.join(roots.cache, ...segments);
  const staging = `${target}.caching-${randomBytes(4).toString('hex')}`;
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  await fs.promises.mkdir(staging);
  try {
    const cached: CacheMarker['images'] = [];
    for (const name of images) {
      if (signal.aborted) throw new Error('cancelled');
      const source = path.join(from, name);
      if (entryKind(source) !== 'file')
        throw new Error(`${name} is not a file in ${from}: nothing cached`);
      await copyFileIn(source, path.join(staging, name));
      cached.push({ name, ...(await sha256Of(path.join(staging, name))) });
      log(`cached ${name}`);
    }
    const marker: CacheMarker = {
      cacheName,
      cachedAt: new Date().toISOString(),
      cachedBy: { runId: run.id, workflow: run.workflow },
      from,
      images: cached,
    };
    await fs.promises.writeFile(
      path.join(staging, CACHE_MARKER),
      `${JSON.stringify(marker, null, 2)}\n`,
    );
    // The old entry steps aside, the new one takes its place, then the old one goes.
    const old =
      entryKind(target) !== null ? `${target}.old-${randomBytes(4).toString('hex')}` : null;
    if (old) await fs.promises.rename(target, old);
    await fs.promises.rename(staging, target);
    if (old) await removeInside([roots.cache], old);
    log(`${cached.length} images cached in ${target}`);
    return {
      exitCode: 0,
      effects: {
        result: {
          cacheDir: target,
          images: cached.map((c) => c.name),
          bytes: cached.reduce((a, c) => a + c.size, 0),
        },
      },
    };
  } catch (e) {
    await fs.promises.rm(staging, { recursive: true, force: true });
    throw e;
  }
};
