import { MigrationInterface, QueryRunner } from 'typeorm';

/** The dashboard's runs finished per hour over the last 24 h read finished runs by time. */
export class AddFinishedIndex1764900000000 implements MigrationInterface {
  name = 'AddFinishedIndex1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX runs_finished_at ON runs (finished_at) WHERE finished_at IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX runs_finished_at`);
  }
}
