import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Dynamic scatter (WORKFLOWS v1.1): a group whose instances come from an
 * earlier job's result is planned when that job is done; until then it has
 * no instances and is not done.
 */
export class AddDynamicScatter1764600000000 implements MigrationInterface {
  name = 'AddDynamicScatter1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_groups ADD COLUMN planned boolean NOT NULL DEFAULT true`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE job_groups DROP COLUMN planned`);
  }
}
