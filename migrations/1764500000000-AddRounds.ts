import { MigrationInterface, QueryRunner } from 'typeorm';

/** `repeat` (WORKFLOWS v1.1): the round a job instance is in, counting from 1. */
export class AddRounds1764500000000 implements MigrationInterface {
  name = 'AddRounds1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs ADD COLUMN round integer NOT NULL DEFAULT 1`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE jobs DROP COLUMN round`);
  }
}
