import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bulk ingestion (CONTRACT 5.7, POST /api/v1/ingestions): one ingestion run
 * ingests up to 1,000 source runs. `source_run_ids` lists an ingestion run's
 * sources in the order given (one for an ingestion of a single run, whose
 * `source_run_id` keeps naming it as before; `source_run_id` is null for
 * one of several). Each source's `ingestion_run_id` points back.
 */
export class AddBulkIngestion1764810000000 implements MigrationInterface {
  name = 'AddBulkIngestion1764810000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs ADD COLUMN source_run_ids bigint[]`);
    await q.query(
      `UPDATE runs SET source_run_ids = ARRAY[source_run_id] WHERE source_run_id IS NOT NULL`,
    );
    await q.query(`ALTER TABLE runs ADD CONSTRAINT runs_sources_listed
      CHECK (source_run_id IS NULL OR source_run_ids = ARRAY[source_run_id])`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs DROP CONSTRAINT runs_sources_listed`);
    await q.query(`ALTER TABLE runs DROP COLUMN source_run_ids`);
  }
}
