import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `events: summary` (CONTRACT 5.8): a scattered job's group records that its
 * counts changed since its last `group-progress` event (`progress_due`) and
 * when that event was sent (`progress_at`), so one is sent at most once a
 * second by whichever worker finds it due. The partial index keeps the
 * search for due groups to the few that are.
 */
export class AddGroupProgress1764800000000 implements MigrationInterface {
  name = 'AddGroupProgress1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_groups
      ADD COLUMN progress_due boolean NOT NULL DEFAULT false,
      ADD COLUMN progress_at timestamptz`);
    await q.query(`CREATE INDEX job_groups_progress_due ON job_groups (run_id) WHERE progress_due`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX job_groups_progress_due`);
    await q.query(`ALTER TABLE job_groups DROP COLUMN progress_due, DROP COLUMN progress_at`);
  }
}
