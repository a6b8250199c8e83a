import * as fs from 'node:fs';
import * as path from 'node:path';
import { transitionDisk } from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { changeRun, lockRun } from '@wfs/runs';
import { CACHE_MARKER, isInside, realDestination, removeInside } from '@wfs/storage';

interface Log {
  log(m: string): void;
  warn(m: string): void;
}

export interface SweepResult {
  expired: number[];
  skipped: Array<{ runId: number; reason: string }>;
  /** Image cache entries deleted (directories). */
  cacheExpired: string[];
}

const FINISHED = ['complete', 'failed', 'cancelled'];

/** One sweeper per database at a time (a session advisory lock; see Sweeper). */
const SWEEP_LOCK = 'wfs-processing-sweeper';

/**
 * Deletes the directories of finished runs left in the processing area once
 * they are older than the retention period (observers may ask for calibrated
 * data up to three weeks later), and records it: disk_state `expired` and an
 * `expired` event. The QA area is never swept: only runs whose disk_state is
 * `processing` AND whose directory lies inside the processing root qualify,
 * and removeInside() refuses anything that resolves (symlinks followed)
 * outside that root and never follows a link inside the tree.
 *
 * Scheduling: a timer in every worker, with one sweep at a time per database
 * guarded by a Postgres advisory lock, rather than a BullMQ repeatable job.
 * Postgres is the record of which runs expire and the lock lives and dies with
 * a connection, so nothing is left behind in Redis when the interval is
 * changed or a worker dies (a repeatable job's schedule persists in Redis and
 * an old interval lingers beside a new one), and a Redis flush cannot lose the
 * schedule. Each run is deleted and marked under its own row lock with its
 * state re-checked, so even overlapping sweeps could not expire a run twice or
 * touch one that moved meanwhile.
 */
export class Sweeper {
  constructor(
    private readonly db: Database,
    private readonly opts: {
      processingRoot: string;
      retentionDays: number;
      /** The image cache and its retention; absent: not swept. */
      cache?: { root: string; retentionDays: number };
    },
    private readonly log: Log,
  ) {}

  /** One sweep, if no other process is sweeping this database; null when it was. */
  async sweepOnce(): Promise<SweepResult | null> {
    const client = await this.db.pool.connect();
    let broken = false;
    try {
      const [lock] = (
        await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
          SWEEP_LOCK,
        ])
      ).rows;
      if (!lock?.ok) return null;
      try {
        return await this.sweep();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [SWEEP_LOCK]).catch(() => {
          broken = true; // releasing the connection ends the session, and its lock
        });
      }
    } finally {
      client.release(broken);
    }
  }

  private async sweep(): Promise<SweepResult> {
    // Run directories are recorded by their real paths (the roots are resolved at start-up).
    const root = realDestination(this.opts.processingRoot);
    const result: SweepResult = { expired: [], skipped: [], cacheExpired: [] };
    if (this.opts.cache)
      result.cacheExpired = await sweepImageCache(
        this.opts.cache.root,
        this.opts.cache.retentionDays,
        this.log,
      );
    let after = 0;
    for (;;) {
      const rows = await this.db.query<{ id: string }>(
        `SELECT id FROM runs
          WHERE state = ANY($1::text[]) AND disk_state = 'processing' AND processing_dir IS NOT NULL
            AND archive_state <> 'ingesting'
            AND left(processing_dir, length($2::text) + 1) = $2::text || '/'
            AND finished_at < now() - make_interval(days => $3::int)
            AND id > $4
          ORDER BY id LIMIT 100`,
        [FINISHED, root, this.opts.retentionDays, after],
      );
      if (rows.length === 0) return result;
      for (const { id } of rows) {
        after = Number(id);
        try {
          const outcome = await this.expire(after, root);
          if (outcome === true) result.expired.push(after);
          else result.skipped.push({ runId: after, reason: outcome });
        } catch (e) {
          result.skipped.push({ runId: after, reason: (e as Error).message });
          this.log.warn(`sweeper: run ${after}: ${(e as Error).message}`);
        }
      }
    }
  }

  /** Deletes one run's directory and marks it expired, under the run's row lock; true or why not. */
  private async expire(runId: number, root: string): Promise<true | string> {
    return this.db.transaction(async (tx) => {
      const run = await lockRun(tx, runId);
      // Re-check under the lock: a DA may have cleaned, moved or re-used it meanwhile.
      const [due] = await tx.query<{ due: boolean }>(
        `SELECT $1::timestamptz < now() - make_interval(days => $2::int) AS due`,
        [run.finished_at, this.opts.retentionDays],
      );
      if (
        !FINISHED.includes(run.state) ||
        run.disk_state !== 'processing' ||
        // Its ingestion reads the directory (and moves it back here when done): not yet.
        run.archive_state === 'ingesting' ||
        !run.processing_dir ||
        !due?.due
      ) {
        return 'changed meanwhile';
      }
      const dir = path.resolve(run.processing_dir);
      if (!isInside(root, dir) || dir === root) return 'not inside the processing root';
      const removed = await removeInside([root], dir);
      await changeRun(tx, run, { disk_state: transitionDisk(runId, run.disk_state, 'expire') }, [
        { type: 'expired' },
      ]);
      this.log.log(`sweeper: run ${runId} expired; deleted ${removed}`);
      return true;
    });
  }
}

/** Cache entries deeper than this many directories are not looked for. */
const CACHE_DEPTH = 8;

/**
 * The image cache's sweep (WFS_CACHE_ROOT): deletes each entry (a directory
 * holding a `.wfs-cache.json` marker, libs/execution image-cache.ts) whose
 * `cachedAt` is older than the retention; re-caching an entry renews it. Only
 * what lies inside the cache root is ever deleted (removeInside), and links
 * are never followed while looking.
 */
export async function sweepImageCache(
  cacheRoot: string,
  retentionDays: number,
  log: Log,
  now = Date.now(),
): Promise<string[]> {
  const root = realDestination(cacheRoot);
  const expired: string[] = [];
  const cutoff = now - retentionDays * 24 * 3600 * 1000;
  const visit = async (dir: string, depth: number): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (dir !== root && entries.some((e) => e.isFile() && e.name === CACHE_MARKER)) {
      let cachedAt = NaN;
      try {
        const marker = JSON.parse(
          await fs.promises.readFile(path.join(dir, CACHE_MARKER), 'utf8'),
        ) as { cachedAt?: string };
        cachedAt = Date.parse(String(marker.cachedAt));
      } catch {
        /* unreadable marker: judged by its file time below */
      }
      if (!Number.isFinite(cachedAt))
        cachedAt = (await fs.promises.lstat(path.join(dir, CACHE_MARKER))).mtimeMs;
      if (cachedAt < cutoff) {
        try {
          await removeInside([root], dir);
          expired.push(dir);
          log.log(
            `sweeper: image cache entry ${dir} expired (cached ${new Date(cachedAt).toISOString()})`,
          );
        } catch (e) {
          log.warn(`sweeper: image cache entry ${dir}: ${(e as Error).message}`);
        }
      }
      return;
    }
    if (depth >= CACHE_DEPTH) return;
    for (const e of entries) if (e.isDirectory()) await visit(path.join(dir, e.name), depth + 1);
  };
  await visit(root, 0);
  return expired;
}
