import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Data-driven steps (WORKFLOWS v1.1): the JSON object a job instance wrote
 * as its result, and on its group whether `when` skipped it and the result
 * later jobs' `when` reads (an unscattered job's one instance).
 */
export class AddResults1764400000000 implements MigrationInterface {
  name = 'AddResults1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs ADD COLUMN result jsonb`);
    await q.query(
      `ALTER TABLE job_groups ADD COLUMN skipped boolean NOT NULL DEFAULT false, ADD COLUMN result jsonb`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_groups DROP COLUMN result, DROP COLUMN skipped`);
    await q.query(`ALTER TABLE jobs DROP COLUMN result`);
  }
}
