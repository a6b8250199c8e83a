import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Batch executors (Slurm, HTCondor): which executor an attempt was handed to
 * and the batch system's id for it, recorded before anything else happens to
 * it, so that a submit host that restarts (or another one) re-attaches to the
 * attempt instead of submitting it twice.
 */
export class AddBatchExecutors1764200000000 implements MigrationInterface {
  name = 'AddBatchExecutors1764200000000';

  async up(q: QueryRunner): Promise<void> {
    // executor: set before the submit (the intent); cluster_job_id: the id the batch system returned.
    await q.query(`ALTER TABLE jobs ADD COLUMN executor text, ADD COLUMN cluster_job_id text`);
    // Running batch attempts, by executor: what a submit host adopts from a dead one.
    await q.query(
      `CREATE INDEX jobs_batch_running ON jobs (executor) WHERE state = 'running' AND executor IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX jobs_batch_running`);
    await q.query(`ALTER TABLE jobs DROP COLUMN cluster_job_id, DROP COLUMN executor`);
  }
}
