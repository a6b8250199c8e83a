import { MigrationInterface, QueryRunner } from 'typeorm';

/** The embedded archive (LocalArchive): products, their files (one row per role), subjects' calibration status. */
export class CreateLocalArchive1763900000000 implements MigrationInterface {
  name = 'CreateLocalArchive1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE archive_products (
        name              text PRIMARY KEY,
        kind              text NOT NULL,
        subject           text NOT NULL,
        qa_flag           text CHECK (qa_flag IN ('pass', 'fail', 'null')),
        source_run_id     bigint NOT NULL,
        ingestion_run_id  bigint NOT NULL,
        ingested_at       timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX archive_products_source_run ON archive_products (source_run_id)`);
    await q.query(
      `CREATE INDEX archive_products_subject ON archive_products (subject, ingested_at DESC)`,
    );
    await q.query(`
      CREATE TABLE archive_files (
        product_name  text NOT NULL REFERENCES archive_products(name) ON DELETE CASCADE,
        path          text NOT NULL,
        size          bigint NOT NULL CHECK (size >= 0),
        sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        role          text NOT NULL CHECK (role IN ('primary', 'ancillary', 'calibration', 'weblog', 'flags', 'qa_report')),
        PRIMARY KEY (product_name, path, role)
      )`);
    await q.query(`CREATE INDEX archive_files_sha256 ON archive_files (sha256)`);
    await q.query(`
      CREATE TABLE archive_subjects (
        subject             text PRIMARY KEY,
        calibration_status  text NOT NULL CHECK (calibration_status IN ('Calibrating', 'Calibrated', 'Do Not Calibrate', 'Unknown')),
        updated_at          timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE archive_subjects`);
    await q.query(`DROP TABLE archive_files`);
    await q.query(`DROP TABLE archive_products`);
  }
}
