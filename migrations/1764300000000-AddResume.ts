import { MigrationInterface, QueryRunner } from 'typeorm';

/** Resume of a failed or cancelled run in place (CONTRACT 5.4): how many times it was resumed. */
export class AddResume1764300000000 implements MigrationInterface {
  name = 'AddResume1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs ADD COLUMN resumed_count integer NOT NULL DEFAULT 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs DROP COLUMN resumed_count`);
  }
}
