/**
 * prune: the row retention (WFS_JOB_ROWS_RETENTION_DAYS, docs/operations.md
 * "Big runs") on one finished run of N instances whose directory is gone: N
 * job rows and 2N published job-started / job-completed events (N =
 * 1,000,000 at BENCH_SCALE=1), deleted by the Sweeper in its batches
 * (PRUNE_BATCH rows), each under the run's row lock. The raw baseline, in the same
 * database and the same run of the bench: a second run of the same size
 * deleted by two plain statements (`DELETE ... WHERE run_id = $1`) in one
 * transaction, which is as fast as Postgres deletes them but holds every
 * row's lock until the end. Reports rows/s of both and their ratio.
 */
import { Client } from 'pg';
import { PRUNE_BATCH, Sweeper } from '@wfs/operations';
import { Database, ensureDatabase } from '@wfs/persistence';
import { now, round, Row, scaled, writeResult } from './support';

const N = scaled(1_000_000, 1_000);
const ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NAME = `wfs_bench_prune_${process.pid}`;
const URL = ADMIN.replace(/\/[^/]*$/, `/${NAME}`);

let db: Database;
beforeAll(async () => {
  await ensureDatabase(URL);
  db = await new Database(URL, 4).open();
  await db.migrate();
  await db.query(
    `INSERT INTO workflow_definitions (digest, name, version, definition) VALUES ('bench', 'bench_prune', 1, '{"jobs":[]}')`,
  );
}, 120_000);
afterAll(async () => {
  await db?.close();
  const admin = new Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${NAME}`);
  await admin.end();
});

/** A complete run that finished 100 days ago, directory expired, with n instances and 2n events. */
async function oldRun(n: number): Promise<number> {
  const [req] = await db.query<{ id: string }>(
    `INSERT INTO requests (workflow) VALUES ('bench_prune') RETURNING id`,
  );
  const [run] = await db.query<{ id: string }>(
    `INSERT INTO runs (request_id, version, workflow, workflow_version, workflow_digest, parameters,
                       state, qa_state, disk_state, created_by, finished_at, last_sequence)
     VALUES ($1, 1, 'bench_prune', 1, 'bench', '{}', 'complete', 'not_required', 'expired', 'bench',
             now() - interval '100 days', $2 * 2) RETURNING id`,
    [req!.id, n],
  );
  const id = Number(run!.id);
  await db.query(
    `INSERT INTO job_groups (run_id, name, position, needs, instances, completed)
     VALUES ($1, 'work', 0, '{}', $2, $2)`,
    [id, n],
  );
  await db.query(
    `INSERT INTO jobs (run_id, name, idx, position, state, attempts, exit_code, started_at, finished_at)
     SELECT $1, 'work', i, 0, 'completed', 1, 0, now() - interval '100 days', now() - interval '100 days'
       FROM generate_series(0, $2 - 1) i`,
    [id, n],
  );
  await db.query(
    `INSERT INTO events (run_id, sequence, type, body, published_at)
     SELECT $1, i + 1, CASE WHEN i % 2 = 0 THEN 'job-started' ELSE 'job-completed' END,
            jsonb_build_object('runId', $1::bigint, 'sequence', i + 1), now()
       FROM generate_series(0, 2 * $2 - 1) i`,
    [id, n],
  );
  return id;
}

test(
  `prune: one run of ${N} instances`,
  async () => {
    const pruned = await oldRun(N);
    const raw = await oldRun(N);
    await db.query('ANALYZE jobs');
    await db.query('ANALYZE events');
    const rows = 3 * N;

    // Raw: two statements, one transaction.
    let t = now();
    await db.transaction(async (tx) => {
      await tx.query('DELETE FROM jobs WHERE run_id = $1', [raw]);
      await tx.query('DELETE FROM events WHERE run_id = $1', [raw]);
      await tx.query('UPDATE runs SET jobs_pruned_at = now() WHERE id = $1', [raw]);
    });
    const rawMs = now() - t;

    const lines: string[] = [];
    const sweeper = new Sweeper(
      db,
      {
        processingRoot: '/nonexistent',
        retentionDays: 21,
        rows: { retentionDays: 90 },
      },
      { log: (m) => lines.push(m), warn: (m) => lines.push(`WARN ${m}`) },
    );
    t = now();
    const result = await sweeper.sweepOnce();
    const pruneMs = now() - t;
    expect(lines.filter((l) => l.startsWith('WARN'))).toEqual([]);
    // Correct before fast: the raw run is marked pruned already, the other lost exactly its rows.
    expect(result?.pruned).toEqual([{ runId: pruned, jobs: N, events: 2 * N }]);
    const [left] = await db.query<{ jobs: number; events: number }>(
      `SELECT (SELECT count(*)::int FROM jobs) AS jobs, (SELECT count(*)::int FROM events) AS events`,
    );
    expect(left).toEqual({ jobs: 0, events: 0 });

    const perSec = (ms: number) => Math.round(rows / (ms / 1000));
    const ratio = perSec(pruneMs) / perSec(rawMs);
    const out: Row[] = [
      {
        bench: 'prune',
        figure: `rows deleted/s, one run of ${N} instances (${rows} rows)`,
        value: `${perSec(pruneMs)} (${round(pruneMs / 1000, 2)} s, batches of ${PRUNE_BATCH})`,
        baseline: `${perSec(rawMs)} (raw DELETE, ${round(rawMs / 1000, 2)} s)`,
        ratio: round(ratio, 2).toFixed(2),
        bar: '>= 0.5 of raw',
        pass: ratio >= 0.5,
      },
    ];
    writeResult('prune', { n: N, deleted: rows, pruneMs, rawMs }, out);
  },
  15 * 60_000,
);
