import { MigrationInterface, QueryRunner } from 'typeorm';

/** Gates waiting for a person (few, looked at every few seconds for their timeouts). */
export class AddWaitingIndex1764700000000 implements MigrationInterface {
  name = 'AddWaitingIndex1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX jobs_waiting ON jobs (dispatched_at) WHERE state = 'waiting'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_waiting`);
  }
}
