import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The row retention (WFS_JOB_ROWS_RETENTION_DAYS). `runs.jobs_pruned_at`:
 * when the sweep deleted a finished run's per-instance rows (its `jobs` and
 * its published job-started / job-completed / group-progress events); null
 * while they are kept. The run row, its group counts (`job_groups`) and its
 * run-level events stay, and each group keeps what its instances' rows said
 * (`job_groups.pruned_summary`: counts by state, first start, last finish),
 * which the run's DAG shows after.
 */
export class AddJobsPrunedAt1765100000000 implements MigrationInterface {
  name = 'AddJobsPrunedAt1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs ADD COLUMN jobs_pruned_at timestamptz`);
    await q.query(`ALTER TABLE job_groups ADD COLUMN pruned_summary jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_groups DROP COLUMN pruned_summary`);
    await q.query(`ALTER TABLE runs DROP COLUMN jobs_pruned_at`);
  }
}
