import { MigrationInterface, QueryRunner } from 'typeorm';

/** Every QA decision kept as history; products an ingestion run archived, for its events. */
export class AddQaDecisionsAndRunProducts1763850000000 implements MigrationInterface {
  name = 'AddQaDecisionsAndRunProducts1763850000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE qa_decisions (
        id          bigserial PRIMARY KEY,
        run_id      bigint NOT NULL REFERENCES runs(id),
        status      text NOT NULL,
        analyst     text NOT NULL,
        standard    text NOT NULL,
        score       double precision,
        comments    text,
        reason      text NOT NULL,
        decided_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX qa_decisions_run ON qa_decisions (run_id, id)`);
    await q.query(`ALTER TABLE runs ADD COLUMN products jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs DROP COLUMN products`);
    await q.query(`DROP TABLE qa_decisions`);
  }
}
