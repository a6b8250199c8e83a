import * as fs from 'node:fs';
import * as path from 'node:path';
import { transitionDisk } from '@wfs/domain';
import { Database, Tx } from '@wfs/persistence';
import { changeRun, lockRun, RunRow, updateRun } from '@wfs/runs';
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
  /** Runs whose per-instance rows were deleted (WFS_JOB_ROWS_RETENTION_DAYS), with what went. */
  pruned: Array<{ runId: number; jobs: number; events: number }>;
}

const FINISHED = ['complete', 'failed', 'cancelled'];

/** The per-instance events a pruned run loses; run-level events, failures, retries and holds stay. */
const INSTANCE_EVENTS = ['job-started', 'job-completed', 'group-progress'];

/**
 * Rows one statement of the row retention deletes at most, each in its own
 * transaction (about 80 ms here; `npm run bench -- prune`: 10,000 gave 0.47
 * of a raw DELETE's rate at a million instances, 50,000 gave 0.60).
 */
export const PRUNE_BATCH = 50_000;

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
      /**
       * Per-instance rows of finished runs whose directory is gone, deleted this many days after
       * the run finished (WFS_JOB_ROWS_RETENTION_DAYS); absent: kept for ever.
       */
      rows?: { retentionDays: number; batch?: number };
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
    const result: SweepResult = { expired: [], skipped: [], cacheExpired: [], pruned: [] };
    if (this.opts.cache)
      result.cacheExpired = await sweepImageCache(
        this.opts.cache.root,
        this.opts.cache.retentionDays,
        this.log,
      );
    await this.expireDirectories(root, result);
    if (this.opts.rows) await this.pruneRows(this.opts.rows.retentionDays, result);
    return result;
  }

  private async expireDirectories(root: string, result: SweepResult): Promise<void> {
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
      if (rows.length === 0) return;
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

  /**
   * The row retention (WFS_JOB_ROWS_RETENTION_DAYS), in the same pass and
   * under the same advisory lock. A run qualifies once it is finished, its
   * directory is gone (disk state `expired` or `removed`: nothing can re-run,
   * resume or ingest it from its jobs any more), it is not being ingested, and
   * it finished longer ago than the retention. Its `jobs` rows and its
   * published per-instance events go in batches, each batch its own short
   * transaction under the run's row lock with the run re-checked; then
   * `jobs_pruned_at` is set. Before the first delete each group keeps what
   * its rows said (`job_groups.pruned_summary`), which the DAG shows after.
   * A sweep stopped half-way leaves `jobs_pruned_at` null and the next one
   * goes on. The run row, its files, its group counts
   * (`job_groups`, which `jobsTotal` and the DAG read) and its run-level
   * events, failures, retries and holds stay.
   */
  private async pruneRows(retentionDays: number, result: SweepResult): Promise<void> {
    let after = 0;
    for (;;) {
      const rows = await this.db.query<{ id: string }>(
        `SELECT id FROM runs
          WHERE jobs_pruned_at IS NULL AND state = ANY($1::text[])
            AND disk_state IN ('expired', 'removed') AND archive_state <> 'ingesting'
            AND finished_at < now() - make_interval(days => $2::int)
            AND id > $3
          ORDER BY id LIMIT 100`,
        [FINISHED, retentionDays, after],
      );
      if (rows.length === 0) return;
      for (const { id } of rows) {
        after = Number(id);
        try {
          const pruned = await this.prune(after, retentionDays);
          if (pruned) result.pruned.push(pruned);
        } catch (e) {
          this.log.warn(`sweeper: run ${after}: rows not pruned: ${(e as Error).message}`);
        }
      }
    }
  }

  /** Deletes one run's per-instance rows; null when it no longer qualifies. */
  private async prune(
    runId: number,
    retentionDays: number,
  ): Promise<{ runId: number; jobs: number; events: number } | null> {
    const batch = this.opts.rows?.batch ?? PRUNE_BATCH;
    const step = (statement: string, params: unknown[]): Promise<number | null> =>
      this.db.transaction(async (tx) => {
        const run = await lockRun(tx, runId);
        if (!(await prunable(tx, run, retentionDays))) return null;
        const [row] = await tx.query<{ n: number }>(
          `WITH d AS (${statement} RETURNING 1) SELECT count(*)::int AS n FROM d`,
          params,
        );
        return row?.n ?? 0;
      });
    // First what the rows say, per group, for the DAG (kept if an earlier sweep stopped half-way).
    const summarised = await step(
      `UPDATE job_groups g SET pruned_summary = s.summary
         FROM (SELECT name, jsonb_build_object('counts', jsonb_object_agg(state, n),
                      'startedAt', min(started_at), 'finishedAt', max(finished_at)) AS summary
                 FROM (SELECT name, state, count(*)::int AS n, min(started_at) AS started_at,
                              max(finished_at) AS finished_at
                         FROM jobs WHERE run_id = $1 GROUP BY name, state) c
                GROUP BY name) s
        WHERE g.run_id = $1 AND g.name = s.name AND g.pruned_summary IS NULL`,
      [runId],
    );
    if (summarised === null) return null;
    let jobs = 0;
    for (;;) {
      const n = await step(
        `DELETE FROM jobs WHERE run_id = $1
            AND ctid = ANY(ARRAY(SELECT ctid FROM jobs WHERE run_id = $1 LIMIT $2))`,
        [runId, batch],
      );
      if (n === null) return null;
      jobs += n;
      if (n < batch) break;
    }
    // Events by ranges of `batch` sequences (an index range each, never re-reading what went).
    const [{ last } = { last: 0 }] = await this.db.query<{ last: number }>(
      'SELECT last_sequence AS last FROM runs WHERE id = $1',
      [runId],
    );
    let events = 0;
    for (let from = 0; from < last; from += batch) {
      const n = await step(
        `DELETE FROM events
          WHERE run_id = $1 AND sequence > $2 AND sequence <= $2 + $3
            AND published_at IS NOT NULL AND type = ANY($4::text[])`,
        [runId, from, batch, INSTANCE_EVENTS],
      );
      if (n === null) return null;
      events += n;
    }
    const finished = await this.db.transaction(async (tx) => {
      const run = await lockRun(tx, runId);
      if (!(await prunable(tx, run, retentionDays))) return null;
      await updateRun(tx, runId, { jobs_pruned_at: new Date() });
      return run.finished_at;
    });
    if (!finished) return null;
    this.log.log(
      `sweeper: run ${runId} finished ${finished.toISOString()}: deleted its ${jobs} job row(s) and ${events} per-instance event(s)`,
    );
    return { runId, jobs, events };
  }
}

/** Whether a locked run still qualifies for the row retention (see Sweeper.pruneRows). */
async function prunable(tx: Tx, run: RunRow, retentionDays: number): Promise<boolean> {
  if (
    run.jobs_pruned_at ||
    !FINISHED.includes(run.state) ||
    (run.disk_state !== 'expired' && run.disk_state !== 'removed') ||
    run.archive_state === 'ingesting'
  )
    return false;
  const [due] = await tx.query<{ due: boolean }>(
    `SELECT $1::timestamptz < now() - make_interval(days => $2::int) AS due`,
    [run.finished_at, retentionDays],
  );
  return !!due?.due;
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
